//! The archive (protocol §6, `docs/archive-format.md`): one backup version as a POSIX ustar file,
//! `MANIFEST.json` first, its Ed25519 signature second, then the phone's bundle, the sealed
//! identity keys, the DID documents and a README.
//!
//! [`Plan`] lays an archive out without holding the bundle: every member but the bundle is
//! small and kept in memory, the bundle's bytes are read from the store piece by piece, so a
//! download takes constant memory and any byte range can be served (`Range`). The layout is a
//! pure function of the version, so a resumed download continues the same bytes.
//!
//! [`read`] checks an archive from any reader: structure, sizes, hashes, the signature, and
//! the end-of-archive marker; every failure names the member and the check.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::crypto::{self, BoxKeys};

pub const FORMAT: &str = "identity-box-backup";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "MANIFEST.json";
pub const SIGNATURE: &str = "MANIFEST.sig";
pub const BUNDLE: &str = "bundle.enc";
pub const SEALED_KEYS: &str = "box-keys.sealed";
pub const README: &str = "README.txt";
/// The file name extension of an archive.
pub const EXTENSION: &str = "idbox";

const BLOCK: u64 = 512;
/// The end-of-archive marker: two zero blocks.
const END: u64 = 2 * BLOCK;
/// Members other than the bundle are small; a reader refuses larger ones before reading.
const MAX_SMALL_MEMBER: u64 = 1 << 20;
/// A reader refuses a bundle larger than this (the box's limit is configurable, 8 MiB by
/// default; this bounds what `verify --mnemonic-file` holds in memory).
const MAX_BUNDLE: u64 = 1 << 30;
/// At most this many members (one per identity, and four more).
const MAX_MEMBERS: usize = 10_000;

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    #[serde(rename = "box")]
    pub box_info: ManifestBox,
    pub backup_id: String,
    /// The backup version this archive holds.
    pub seq: u64,
    /// When the version was made, Unix seconds (box clock).
    pub created: i64,
    pub files: Vec<FileEntry>,
}

/// The box that made the archive; keys in base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestBox {
    pub name: String,
    pub signing_key: String,
    pub agreement_key: String,
}

impl ManifestBox {
    /// The fingerprint of the box the manifest names (protocol §1), from its agreement key.
    /// The signature proves only who holds the signing key: that this is *your* box takes a
    /// key from somewhere else ([`ManifestBox::signed_by`]).
    pub fn fingerprint(&self) -> Option<String> {
        let key: [u8; 32] = crypto::b64u_decode(&self.agreement_key)
            .ok()?
            .try_into()
            .ok()?;
        Some(crypto::fingerprint(&key))
    }

    /// Whether the archive was signed by the box whose signing key is `signing_key` (b64u, as
    /// `identity-box status`, `/v1/info` and the pairing answer give it).
    pub fn signed_by(&self, signing_key: &str) -> bool {
        match (
            crypto::b64u_decode(signing_key.trim()),
            crypto::b64u_decode(&self.signing_key),
        ) {
            (Ok(given), Ok(signer)) => given.len() == 32 && given == signer,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// What goes into an archive of one version.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub box_name: String,
    pub backup_id: String,
    pub version: u64,
    pub created: i64,
    pub bundle_len: u64,
    pub bundle_sha256: [u8; 32],
    pub sealed_keys: Vec<u8>,
    /// `(ipns name, document)` of each identity the version lists.
    pub documents: Vec<(String, Value)>,
}

/// A piece of an archive's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Bytes),
    /// `len` bytes of the bundle from `offset`.
    Bundle {
        offset: u64,
        len: u64,
    },
}

#[derive(Debug, Clone)]
enum Source {
    Bytes(Bytes),
    Bundle,
}

#[derive(Debug, Clone)]
struct Segment {
    start: u64,
    len: u64,
    source: Source,
}

/// An archive laid out: its length, its file name, and where each byte comes from.
#[derive(Debug, Clone)]
pub struct Plan {
    segments: Vec<Segment>,
    len: u64,
    filename: String,
    manifest_sha256: [u8; 32],
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// The ustar header of a regular file at the archive's root (or under `did/`).
fn header(path: &str, size: u64, mtime: i64) -> io::Result<[u8; 512]> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(*h.as_bytes())
}

/// A file-name-safe form of the box name: letters, digits, `-` and `_`; others become `-`.
fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() { "box".into() } else { s.into() }
}

/// `README.txt`: what the file is and how to check and restore it.
fn readme(i: &Inputs) -> String {
    format!(
        "This is a backup made by the Identity Box \"{name}\".\n\
         \n\
         Backup {id}, version {version}, made at {created} (Unix time).\n\
         \n\
         What it holds:\n\
         - bundle.enc: the phone's address book, encrypted. Only the 24 backup words open it.\n\
         - box-keys.sealed: the keys of your identities, sealed so that only the 24 backup\n\
         \x20 words open them.\n\
         - did/*.json: the public documents of your identities (nothing secret).\n\
         - MANIFEST.json and MANIFEST.sig: the list of these files with their checksums,\n\
         \x20 signed by the box.\n\
         \n\
         Keep this file on a USB stick, away from the box. Without the 24 words it is useless\n\
         to anyone who finds it; with the words, it brings your identities back.\n\
         \n\
         Check it (no secret needed):        identity-box verify FILE\n\
         Rehearse a restore (nothing changes): identity-box verify FILE --mnemonic-file WORDS\n\
         Restore a box from it:              identity-box restore FILE --box URL --mnemonic-file WORDS\n",
        name = i.box_name,
        id = i.backup_id,
        version = i.version,
        created = i.created,
    )
}

impl Plan {
    /// Lays out the archive of `inputs` and signs its manifest with the box's signing key.
    pub fn new(inputs: &Inputs, keys: &BoxKeys) -> io::Result<Plan> {
        let mut small: Vec<(String, Vec<u8>)> = Vec::new();
        small.push((SEALED_KEYS.into(), inputs.sealed_keys.clone()));
        let mut docs: Vec<&(String, Value)> = inputs.documents.iter().collect();
        docs.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, doc) in docs {
            let bytes = serde_json::to_vec_pretty(doc).map_err(io::Error::other)?;
            small.push((format!("did/{name}.json"), bytes));
        }
        small.push((README.into(), readme(inputs).into_bytes()));

        let mut files = vec![FileEntry {
            path: BUNDLE.into(),
            size: inputs.bundle_len,
            sha256: hex::encode(inputs.bundle_sha256),
        }];
        files.extend(small.iter().map(|(path, bytes)| FileEntry {
            path: path.clone(),
            size: bytes.len() as u64,
            sha256: hex::encode(crypto::sha256(bytes)),
        }));
        let public = keys.public();
        let manifest = Manifest {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            box_info: ManifestBox {
                name: inputs.box_name.clone(),
                signing_key: public.signing_b64u,
                agreement_key: public.agreement_b64u,
            },
            backup_id: inputs.backup_id.clone(),
            seq: inputs.version,
            created: inputs.created,
            files,
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let signature = {
            use ed25519_dalek::Signer;
            keys.signing_key().sign(&manifest_bytes).to_bytes().to_vec()
        };

        let mut plan = Plan {
            segments: Vec::new(),
            len: 0,
            filename: format!(
                "identity-box-{}-{}-v{}.{EXTENSION}",
                safe_name(&inputs.box_name),
                inputs.backup_id.get(..8).unwrap_or(&inputs.backup_id),
                inputs.version
            ),
            manifest_sha256: crypto::sha256(&manifest_bytes),
        };
        let mtime = inputs.created;
        plan.member(MANIFEST, Source::Bytes(manifest_bytes.into()), None, mtime)?;
        plan.member(SIGNATURE, Source::Bytes(signature.into()), None, mtime)?;
        plan.member(BUNDLE, Source::Bundle, Some(inputs.bundle_len), mtime)?;
        for (path, bytes) in small {
            plan.member(&path, Source::Bytes(bytes.into()), None, mtime)?;
        }
        plan.push(Source::Bytes(Bytes::from_static(&[0; END as usize])), END);
        Ok(plan)
    }

    fn push(&mut self, source: Source, len: u64) {
        if len > 0 {
            self.segments.push(Segment {
                start: self.len,
                len,
                source,
            });
            self.len += len;
        }
    }

    fn member(
        &mut self,
        path: &str,
        source: Source,
        size: Option<u64>,
        mtime: i64,
    ) -> io::Result<()> {
        let size = match (&source, size) {
            (Source::Bytes(b), _) => b.len() as u64,
            (Source::Bundle, Some(n)) => n,
            (Source::Bundle, None) => 0,
        };
        self.push(
            Source::Bytes(Bytes::copy_from_slice(&header(path, size, mtime)?)),
            BLOCK,
        );
        self.push(source, size);
        let pad = padding(size);
        self.push(
            Source::Bytes(Bytes::from_static(&[0; BLOCK as usize]).slice(..pad as usize)),
            pad,
        );
        Ok(())
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `identity-box-<box name>-<backup_id[..8]>-v<n>.idbox`.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// SHA-256 of the manifest: it names these exact bytes (an `ETag`).
    pub fn manifest_sha256(&self) -> [u8; 32] {
        self.manifest_sha256
    }

    /// The pieces that make bytes `start..end` (clamped to the archive), bundle pieces at
    /// most `chunk` bytes long.
    pub fn pieces(&self, start: u64, end: u64, chunk: u64) -> Vec<Piece> {
        let end = end.min(self.len);
        let chunk = chunk.max(1);
        let mut out = Vec::new();
        for seg in &self.segments {
            let seg_end = seg.start + seg.len;
            if seg_end <= start || seg.start >= end {
                continue;
            }
            let from = start.max(seg.start) - seg.start;
            let to = end.min(seg_end) - seg.start;
            match &seg.source {
                Source::Bytes(b) => out.push(Piece::Bytes(b.slice(from as usize..to as usize))),
                Source::Bundle => {
                    let mut at = from;
                    while at < to {
                        let len = chunk.min(to - at);
                        out.push(Piece::Bundle { offset: at, len });
                        at += len;
                    }
                }
            }
        }
        out
    }

    /// Writes the whole archive, taking the bundle's bytes from `bundle`.
    pub fn write_to(&self, bundle: &[u8], out: &mut impl Write) -> io::Result<()> {
        for piece in self.pieces(0, self.len, u64::MAX) {
            match piece {
                Piece::Bytes(b) => out.write_all(&b)?,
                Piece::Bundle { offset, len } => {
                    let range = usize::try_from(offset)
                        .ok()
                        .zip(usize::try_from(offset + len).ok())
                        .and_then(|(a, b)| bundle.get(a..b))
                        .ok_or_else(|| io::Error::other("the bundle is shorter than planned"))?;
                    out.write_all(range)?;
                }
            }
        }
        Ok(())
    }
}

/// Why an archive is not a good one.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    /// The file as a whole: not a tar archive, truncated, or a missing member.
    #[error("{0}")]
    Structure(String),
    /// One member failed a check.
    #[error("{member}: {check}")]
    Member { member: String, check: String },
}

fn member_error(member: &str, check: impl Into<String>) -> ArchiveError {
    ArchiveError::Member {
        member: member.to_owned(),
        check: check.into(),
    }
}

/// A checked archive.
#[derive(Debug, Clone)]
pub struct Opened {
    pub manifest: Manifest,
    /// The DID documents by their DID.
    pub documents: BTreeMap<String, Value>,
    /// The bundle and the sealed keys, when asked for.
    pub bundle: Option<Vec<u8>>,
    pub sealed_keys: Option<Vec<u8>>,
}

/// Writes into a SHA-256 and counts.
struct Hashing {
    hasher: Sha256,
    count: u64,
    keep: Option<Vec<u8>>,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.count += buf.len() as u64;
        if let Some(k) = &mut self.keep {
            k.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a member fully (at most `limit` bytes, the declared size otherwise refused).
fn read_small(
    entry: &mut impl Read,
    path: &str,
    size: u64,
    limit: u64,
) -> Result<Vec<u8>, ArchiveError> {
    if size > limit {
        return Err(member_error(
            path,
            format!("is {size} bytes, more than the {limit} allowed"),
        ));
    }
    let mut out = Vec::with_capacity(size as usize);
    entry.take(size).read_to_end(&mut out)?;
    if (out.len() as u64) < size {
        return Err(member_error(
            path,
            format!(
                "is cut short: {} of {size} bytes (the file is truncated)",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// A member path the format allows: `did/<name>.json` or one of the fixed names.
fn allowed_path(path: &str) -> bool {
    match path
        .strip_prefix("did/")
        .and_then(|p| p.strip_suffix(".json"))
    {
        Some(name) => !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()),
        None => matches!(path, BUNDLE | SEALED_KEYS | README),
    }
}

/// Checks an archive: ustar structure, `MANIFEST.json` first and `MANIFEST.sig` second, the
/// signature by the box key the manifest names, every listed member present once with its
/// size and hash, nothing unlisted, DID documents that are JSON and name their DID, and the
/// end-of-archive marker. `keep` also returns the bundle and the sealed keys.
pub fn read(input: impl Read, keep: bool) -> Result<Opened, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let opened = read_members(&mut archive, keep)?;
    check_end(archive.into_inner())?;
    Ok(opened)
}

/// What `MANIFEST.json` lists: each member's size and SHA-256 (hex), by path.
type Listed = BTreeMap<String, (u64, String)>;

/// The steps of [`read`] up to tar's end of archive, one member at a time: the manifest, its
/// signature, then every listed member.
fn read_members<R: Read>(
    archive: &mut tar::Archive<R>,
    keep: bool,
) -> Result<Opened, ArchiveError> {
    let mut members = Members::new(archive)?;
    let Some(first) = members.next_member()? else {
        return Err(ArchiveError::Structure(
            "it holds no member: it is not an Identity Box backup".into(),
        ));
    };
    let (manifest, manifest_bytes) = read_manifest(first)?;
    let listed = check_manifest(&manifest)?;
    let Some(second) = members.next_member()? else {
        return Err(member_error(SIGNATURE, "is missing"));
    };
    check_signature(second, &manifest, &manifest_bytes)?;

    let mut opened = Opened {
        manifest,
        documents: BTreeMap::new(),
        bundle: None,
        sealed_keys: None,
    };
    let mut seen: Vec<String> = Vec::new();
    while let Some(mut member) = members.next_member()? {
        let want_hash = check_listed(&member, &listed, &mut seen)?;
        let is_doc = member.path.starts_with("did/");
        let is_secret = member.path == BUNDLE || member.path == SEALED_KEYS;
        let bytes = read_checksummed(&mut member, want_hash, is_doc || (keep && is_secret))?;
        if is_doc {
            let (did, doc) = open_document(&member.path, &bytes)?;
            opened.documents.insert(did, doc);
        } else if member.path == BUNDLE && keep {
            opened.bundle = Some(bytes);
        } else if member.path == SEALED_KEYS && keep {
            opened.sealed_keys = Some(bytes);
        }
    }
    if let Some(missing) = listed.keys().find(|p| !seen.contains(p)) {
        return Err(member_error(
            missing,
            "is missing (listed in MANIFEST.json, not in the file)",
        ));
    }
    Ok(opened)
}

/// A member whose header passed the checks every member must pass.
struct Member<'a, R: Read> {
    entry: tar::Entry<'a, R>,
    path: String,
    size: u64,
}

/// The archive's members in order, each a regular ustar file with a UTF-8 name.
struct Members<'a, R: Read> {
    entries: std::iter::Enumerate<tar::Entries<'a, R>>,
    /// The name of the last member read, so that a damaged one can be placed.
    previous: String,
}

impl<'a, R: Read> Members<'a, R> {
    fn new(archive: &'a mut tar::Archive<R>) -> Result<Self, ArchiveError> {
        let entries = archive
            .entries()
            .map_err(|e| ArchiveError::Structure(format!("not a tar archive: {e}")))?;
        Ok(Members {
            entries: entries.enumerate(),
            previous: String::from("the start of the file"),
        })
    }

    /// The next member, or `None` at tar's end of archive.
    fn next_member(&mut self) -> Result<Option<Member<'a, R>>, ArchiveError> {
        let Some((index, entry)) = self.entries.next() else {
            return Ok(None);
        };
        let entry = entry.map_err(|e| {
            ArchiveError::Structure(format!(
                "the member after {} is damaged or cut short: {e}",
                self.previous
            ))
        })?;
        if index >= MAX_MEMBERS {
            return Err(ArchiveError::Structure(format!(
                "more than {MAX_MEMBERS} members"
            )));
        }
        let path = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
            ArchiveError::Structure(format!(
                "the member after {} has a name that is not UTF-8",
                self.previous
            ))
        })?;
        self.previous.clone_from(&path);
        if entry.header().as_ustar().is_none() {
            return Err(member_error(&path, "is not a POSIX ustar member"));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(member_error(&path, "is not a regular file"));
        }
        let size = entry.header().size()?;
        Ok(Some(Member { entry, path, size }))
    }
}

/// The first member: `MANIFEST.json`, parsed. Also returns its bytes, which the signature
/// covers.
fn read_manifest(mut member: Member<'_, impl Read>) -> Result<(Manifest, Vec<u8>), ArchiveError> {
    if member.path != MANIFEST {
        return Err(member_error(
            &member.path,
            format!("comes first, but {MANIFEST} must"),
        ));
    }
    let bytes = read_small(
        &mut member.entry,
        &member.path,
        member.size,
        MAX_SMALL_MEMBER,
    )?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| member_error(MANIFEST, format!("is not a valid manifest: {e}")))?;
    Ok((manifest, bytes))
}

/// The manifest names this format, and lists members the format has, each once, the required
/// ones among them.
fn check_manifest(m: &Manifest) -> Result<Listed, ArchiveError> {
    if m.format != FORMAT || m.version != FORMAT_VERSION {
        return Err(member_error(
            MANIFEST,
            format!(
                "is format {:?} version {}; this program reads {FORMAT:?} version {FORMAT_VERSION}",
                m.format, m.version
            ),
        ));
    }
    let mut listed = Listed::new();
    for f in &m.files {
        if !allowed_path(&f.path) {
            return Err(member_error(
                MANIFEST,
                format!("lists {:?}, which is not a member this format has", f.path),
            ));
        }
        if listed
            .insert(f.path.clone(), (f.size, f.sha256.clone()))
            .is_some()
        {
            return Err(member_error(MANIFEST, format!("lists {} twice", f.path)));
        }
    }
    for required in [BUNDLE, SEALED_KEYS, README] {
        if !listed.contains_key(required) {
            return Err(member_error(MANIFEST, format!("does not list {required}")));
        }
    }
    Ok(listed)
}

/// The second member: `MANIFEST.sig`, the Ed25519 signature of the manifest's bytes by the
/// box signing key the manifest names.
fn check_signature(
    mut member: Member<'_, impl Read>,
    manifest: &Manifest,
    manifest_bytes: &[u8],
) -> Result<(), ArchiveError> {
    if member.path != SIGNATURE {
        return Err(member_error(
            &member.path,
            format!("comes second, but {SIGNATURE} must"),
        ));
    }
    let sig = read_small(&mut member.entry, &member.path, member.size, 64)?;
    let key = crypto::b64u_decode(&manifest.box_info.signing_key)
        .map_err(|_| member_error(MANIFEST, "names a box signing key that is not base64url"))?;
    crypto::verify_ed25519(&key, manifest_bytes, &sig).map_err(|_| {
        member_error(
            SIGNATURE,
            "does not verify: MANIFEST.json was altered, or was not signed by the box it names",
        )
    })
}

/// A member after the signature: listed, not seen before, of the listed size, and not over
/// its limit. Returns the SHA-256 the manifest lists for it.
fn check_listed<'l>(
    member: &Member<'_, impl Read>,
    listed: &'l Listed,
    seen: &mut Vec<String>,
) -> Result<&'l str, ArchiveError> {
    let (path, size) = (&member.path, member.size);
    let Some((want_size, want_hash)) = listed.get(path) else {
        return Err(member_error(
            path,
            "is not listed in MANIFEST.json (a member was added)",
        ));
    };
    if seen.contains(path) {
        return Err(member_error(path, "appears twice"));
    }
    seen.push(path.clone());
    if size != *want_size {
        return Err(member_error(
            path,
            format!("is {size} bytes, MANIFEST.json says {want_size}"),
        ));
    }
    let limit = if path == BUNDLE {
        MAX_BUNDLE
    } else {
        MAX_SMALL_MEMBER
    };
    if size > limit {
        return Err(member_error(
            path,
            format!("is {size} bytes, more than the {limit} allowed"),
        ));
    }
    Ok(want_hash)
}

/// Reads a member to its end and checks its SHA-256 against `want_hash`. Returns its bytes
/// when `keep`, else nothing (a bundle is hashed as it streams, not held).
fn read_checksummed(
    member: &mut Member<'_, impl Read>,
    want_hash: &str,
    keep: bool,
) -> Result<Vec<u8>, ArchiveError> {
    let (path, size) = (&member.path, member.size);
    let mut sink = Hashing {
        hasher: Sha256::new(),
        count: 0,
        keep: keep.then(Vec::new),
    };
    io::copy(&mut (&mut member.entry).take(size), &mut sink)?;
    if sink.count < size {
        return Err(member_error(
            path,
            format!(
                "is cut short: {} of {size} bytes (the file is truncated)",
                sink.count
            ),
        ));
    }
    if hex::encode(sink.hasher.finalize()) != want_hash {
        return Err(member_error(
            path,
            "does not match its SHA-256 in MANIFEST.json (it was altered or damaged)",
        ));
    }
    Ok(sink.keep.unwrap_or_default())
}

/// `did/<name>.json`: JSON whose `id` is `did:ipid:<name>`. Returns the DID and the document.
fn open_document(path: &str, bytes: &[u8]) -> Result<(String, Value), ArchiveError> {
    // The manifest listed this path, so `allowed_path` has checked its shape.
    let name = &path["did/".len()..path.len() - ".json".len()];
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|_| member_error(path, "is not JSON"))?;
    let did = format!("did:ipid:{name}");
    if doc.get("id").and_then(Value::as_str) != Some(did.as_str()) {
        return Err(member_error(path, format!("is not the document of {did}")));
    }
    Ok((did, doc))
}

/// What follows tar's end of archive: tar stops at the first zero block; the second one must
/// follow, then nothing but zeros.
fn check_end(rest: impl Read) -> Result<(), ArchiveError> {
    let mut bytes = Vec::new();
    rest.take(1 << 20).read_to_end(&mut bytes)?;
    if bytes.len() < BLOCK as usize || bytes.iter().any(|&b| b != 0) {
        return Err(ArchiveError::Structure(
            "it does not end with the end-of-archive marker: it is truncated, or something was appended".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::BoxSeed;

    const NAME: &str = "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8";

    fn sample(bundle: &[u8]) -> (Plan, Vec<u8>) {
        let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([7; 32]));
        let inputs = Inputs {
            box_name: "Kitchen box".into(),
            backup_id: "0123456789abcdef0123456789abcdef".into(),
            version: 3,
            created: 1_700_000_000,
            bundle_len: bundle.len() as u64,
            bundle_sha256: crypto::sha256(bundle),
            sealed_keys: vec![9; 4096 + 48],
            documents: vec![(
                NAME.into(),
                serde_json::json!({"id": format!("did:ipid:{NAME}")}),
            )],
        };
        let plan = Plan::new(&inputs, &keys).unwrap();
        let mut out = Vec::new();
        plan.write_to(bundle, &mut out).unwrap();
        (plan, out)
    }

    /// The offset and size of a member's data in `bytes`.
    fn member_at(bytes: &[u8], path: &str) -> (usize, usize) {
        let mut a = tar::Archive::new(bytes);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            if e.path_bytes().as_ref() == path.as_bytes() {
                return (e.raw_file_position() as usize, e.size() as usize);
            }
        }
        panic!("no {path}");
    }

    #[test]
    fn an_archive_reads_back_with_its_members_in_order() {
        let bundle: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let (plan, bytes) = sample(&bundle);
        assert_eq!(plan.len(), bytes.len() as u64);
        assert_eq!(bytes.len() % 512, 0);
        assert_eq!(
            plan.filename(),
            "identity-box-Kitchen-box-01234567-v3.idbox"
        );
        let names: Vec<String> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        let doc = format!("did/{NAME}.json");
        assert_eq!(
            names,
            [
                MANIFEST,
                SIGNATURE,
                BUNDLE,
                SEALED_KEYS,
                doc.as_str(),
                README
            ]
        );
        let opened = read(&bytes[..], true).unwrap();
        assert_eq!(opened.bundle.as_deref(), Some(&bundle[..]));
        assert_eq!(opened.sealed_keys, Some(vec![9; 4096 + 48]));
        assert_eq!(opened.manifest.seq, 3);
        assert_eq!(opened.manifest.files.len(), 4);
        assert!(opened.documents.contains_key(&format!("did:ipid:{NAME}")));
        // Without `keep`, nothing secret-sized is held.
        assert!(read(&bytes[..], false).unwrap().bundle.is_none());
    }

    #[test]
    fn any_range_of_pieces_is_the_same_bytes() {
        let bundle: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let (plan, bytes) = sample(&bundle);
        let len = bytes.len() as u64;
        for (start, end) in [
            (0, len),
            (1, 513),
            (511, 70_001),
            (len - 1, len),
            (600, 80_000),
            (5, 5),
        ] {
            let mut out = Vec::new();
            for piece in plan.pieces(start, end, 4096) {
                match piece {
                    Piece::Bytes(b) => out.extend_from_slice(&b),
                    Piece::Bundle { offset, len } => {
                        assert!(len <= 4096);
                        out.extend_from_slice(&bundle[offset as usize..(offset + len) as usize]);
                    }
                }
            }
            assert_eq!(out, bytes[start as usize..end as usize], "{start}..{end}");
        }
    }

    fn failure(bytes: &[u8]) -> String {
        read(bytes, false).unwrap_err().to_string()
    }

    #[test]
    fn each_altered_member_is_named() {
        let bundle = vec![1u8; 3000];
        let (_, bytes) = sample(&bundle);
        let doc = format!("did/{NAME}.json");
        for path in [
            MANIFEST,
            SIGNATURE,
            BUNDLE,
            SEALED_KEYS,
            doc.as_str(),
            README,
        ] {
            let (at, size) = member_at(&bytes, path);
            let mut bad = bytes.clone();
            bad[at + size / 2] ^= 0x01;
            let message = failure(&bad);
            let named = if path == MANIFEST {
                // An altered manifest either no longer parses or no longer verifies.
                message.starts_with(MANIFEST) || message.starts_with(SIGNATURE)
            } else {
                message.starts_with(path)
            };
            assert!(named, "{path}: {message}");
        }
    }

    #[test]
    fn truncation_addition_and_junk_are_refused() {
        let (_, bytes) = sample(&[2u8; 3000]);
        for cut in [
            0,
            100,
            512,
            1024,
            2048,
            bytes.len() - 1024,
            bytes.len() - 512,
            bytes.len() - 1,
        ] {
            let message = read(&bytes[..cut], false).unwrap_err().to_string();
            assert!(!message.is_empty(), "{cut}");
        }
        // The cut inside the bundle names it.
        let (at, _) = member_at(&bytes, BUNDLE);
        assert!(failure(&bytes[..at + 1000]).contains(BUNDLE));

        // A member added before the end marker.
        let mut added = bytes[..bytes.len() - 1024].to_vec();
        let h = header("extra.txt", 3, 0).unwrap();
        added.extend_from_slice(&h);
        added.extend_from_slice(&[b'x'; 3]);
        added.extend_from_slice(&[0; 509 + 1024]);
        assert!(
            failure(&added).starts_with("extra.txt"),
            "{}",
            failure(&added)
        );

        // Something appended after the end marker.
        let mut appended = bytes.clone();
        appended.extend_from_slice(b"hello");
        assert!(failure(&appended).contains("end-of-archive"));

        // Not an archive at all.
        assert!(read(&b"hello world"[..], false).is_err());
    }

    #[test]
    fn a_manifest_signed_by_another_box_is_refused() {
        let (_, bytes) = sample(&[3u8; 100]);
        let (at, size) = member_at(&bytes, MANIFEST);
        let text = String::from_utf8(bytes[at..at + size].to_vec()).unwrap();
        let other = BoxKeys::from_seed(&BoxSeed::from_bytes([8; 32])).public();
        let m: Manifest = serde_json::from_str(&text).unwrap();
        let swapped = text.replace(&m.box_info.signing_key, &other.signing_b64u);
        assert_eq!(swapped.len(), text.len());
        let mut bad = bytes.clone();
        bad[at..at + size].copy_from_slice(swapped.as_bytes());
        assert!(failure(&bad).starts_with(SIGNATURE), "{}", failure(&bad));
    }
}
