//! `extract.approve`: the phone lets a computer save its backup, or refuses.

use super::{Call, RpcResult};
use crate::extract::Status;
use crate::protocol::extract::{Approved, ExtractApprove};

pub(super) async fn approve(call: &Call<'_>, p: ExtractApprove) -> RpcResult<Approved> {
    let sessions = call.state.sessions();
    sessions.check(&p.session, &p.code)?;
    if p.refuse {
        sessions.answer(
            &p.session,
            &p.code,
            Status::Refused {
                message: "The phone did not allow this computer to save the backup.".into(),
            },
        )?;
        log::info!("extraction refused by device {}", call.device.device_id);
        return Ok(Approved {
            approved: false,
            filename: None,
            size: None,
        });
    }
    // Without a backup id, the caller's only backup (protocol §6).
    let backup_id = match p.backup_id {
        Some(id) => id,
        None => call.backups()?.sole_backup(&call.device.group_id).await?,
    };
    let ticket = super::backup::ticket(call, &backup_id, p.version).await?;
    sessions.answer(
        &p.session,
        &p.code,
        Status::Approved {
            url: ticket.url,
            filename: ticket.filename.clone(),
            size: ticket.size,
            expires: ticket.expires,
        },
    )?;
    log::info!("extraction approved by device {}", call.device.device_id);
    Ok(Approved {
        approved: true,
        filename: Some(ticket.filename),
        size: Some(ticket.size),
    })
}
