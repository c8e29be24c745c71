//! A computer saving the backup: `extract.approve` (protocol §6).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `extract.approve`: the session and code from the computer's QR code, and which backup to
/// hand over (the caller's own; without `backup_id`, the caller's only backup); `refuse` says
/// no instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractApprove {
    pub session: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refuse: bool,
}

/// What `extract.approve` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approved {
    pub approved: bool,
    pub filename: Option<String>,
    pub size: Option<u64>,
}

impl fmt::Display for Approved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.approved, &self.filename, self.size) {
            (true, Some(name), Some(size)) => {
                write!(f, "Approved: the computer is saving {name} ({size} bytes).")
            }
            (true, _, _) => write!(f, "Approved: the computer is saving the backup."),
            (false, _, _) => write!(f, "Refused: the computer will not get the backup."),
        }
    }
}
