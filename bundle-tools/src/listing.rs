//! Human and JSON renderings of a SIF's header and descriptors, in the layout of
//! `siftool` / `singularity sif` (`list`, `info`, `header`).

use serde::Serialize;

use crate::sif::{format_time, Descriptor, Extra, Header, Link, ReadAt, Sif, ZERO_TIME};

const RULE: &str = "------------------------------------------------------------------------------";

fn group_str(g: u32) -> String {
    if g == 0 {
        "NONE".into()
    } else {
        g.to_string()
    }
}

fn link_str(l: Link) -> String {
    match l {
        Link::None => "NONE".into(),
        Link::Object(id) => id.to_string(),
        Link::Group(g) => format!("{g:<3} (G)"),
    }
}

/// `siftool list` output.
pub fn list_text<R: ReadAt>(sif: &Sif<R>) -> String {
    let mut s = String::new();
    s.push_str(RULE);
    s.push('\n');
    s.push_str(&format!(
        "{:<4} {:<8} {:<8} {:<26} {}\n",
        "ID", "|GROUP", "|LINK", "|SIF POSITION (start-end)", "|TYPE"
    ));
    s.push_str(RULE);
    s.push('\n');
    for d in sif.descriptors() {
        let (start, end) = d.range();
        let (group, link) = (group_str(d.group()), link_str(d.link));
        let (pos, ty) = (format!("|{start}-{end}"), d.type_label());
        s.push_str(&format!(
            "{:<4} {:<8} {:<8} {:<26} {}\n",
            d.id,
            "|".to_string() + &group,
            "|".to_string() + &link,
            pos,
            "|".to_string() + &ty
        ));
    }
    s
}

/// Binary-prefixed size rounded to a whole number, as siftool prints ("27 KiB").
pub fn ibytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut e = 0;
    while v >= 1024.0 && e < UNITS.len() - 1 {
        v /= 1024.0;
        e += 1;
    }
    format!("{v:.0} {}", UNITS[e])
}

/// Aligned "Key: value" lines like Go's tabwriter with the given padding.
fn kv_lines(rows: &[(String, String)], indent: &str, pad: usize) -> String {
    let w = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0) + pad;
    rows.iter()
        .map(|(k, v)| format!("{indent}{:<w$}{v}\n", format!("{k}:")))
        .collect()
}

fn header_rows(h: &Header) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = Vec::new();
    let ls = String::from_utf8_lossy(&h.launch_script);
    if !ls.is_empty() {
        r.push(("Launch Script".into(), ls.trim_end().to_string()));
    }
    r.push(("Version".into(), "01".into()));
    if !h.arch.is_unknown() {
        r.push(("Primary Architecture".into(), h.arch.to_string()));
    }
    if let Some(u) = h.uuid() {
        r.push(("ID".into(), u));
    }
    if h.created != ZERO_TIME {
        r.push(("Created At".into(), format_time(h.created)));
    }
    if h.modified != ZERO_TIME {
        r.push(("Modified At".into(), format_time(h.modified)));
    }
    r.push(("Descriptors Free".into(), h.descriptors_free.to_string()));
    r.push(("Descriptors Total".into(), h.descriptors_total.to_string()));
    r.push((
        "Descriptors Offset".into(),
        h.descriptors_offset.to_string(),
    ));
    r.push(("Descriptors Size".into(), ibytes(h.descriptors_size as u64)));
    r.push(("Data Offset".into(), h.data_offset.to_string()));
    r.push(("Data Size".into(), ibytes(h.data_size as u64)));
    r
}

/// `siftool header` output.
pub fn header_text(h: &Header) -> String {
    kv_lines(&header_rows(h), "", 1)
}

/// `siftool info ID` output.
pub fn info_text(d: &Descriptor) -> String {
    let mut r: Vec<(String, String)> = vec![
        ("Data Type".into(), d.data_type.to_string()),
        ("ID".into(), d.id.to_string()),
        ("Group ID".into(), group_str(d.group())),
        ("Linked ID".into(), {
            match d.link {
                Link::Group(g) => format!("{g} (G)"),
                l => link_str(l),
            }
        }),
        ("Offset".into(), d.offset.to_string()),
        ("Size".into(), d.size.to_string()),
    ];
    if d.created != ZERO_TIME {
        r.push(("Created At".into(), format_time(d.created)));
    }
    if d.modified != ZERO_TIME {
        r.push(("Modified At".into(), format_time(d.modified)));
    }
    if !d.name.is_empty() {
        r.push(("Name".into(), d.name.clone()));
    }
    match &d.extra {
        Extra::Partition { fs, part, arch } => {
            r.push(("Filesystem Type".into(), fs.to_string()));
            r.push(("Partition Type".into(), part.to_string()));
            r.push(("Architecture".into(), arch.to_string()));
        }
        Extra::Signature { hash, entity } => {
            r.push(("Hash Type".into(), hash.to_string()));
            if entity.iter().any(|&b| b != 0) {
                r.push(("Entity".into(), hex::encode_upper(entity)));
            }
        }
        Extra::CryptoMessage { format, message } => {
            r.push(("Format Type".into(), format.to_string()));
            r.push(("Message Type".into(), message.to_string()));
        }
        Extra::Sbom { format } => r.push(("Format".into(), format.to_string())),
        Extra::Digest(dg) => r.push(("Digest".into(), dg.clone())),
        Extra::None => {}
    }
    kv_lines(&r, "  ", 2)
}

/// JSON form of a header (`--json`).
#[derive(Debug, Serialize)]
pub struct HeaderJson {
    pub launch_script: String,
    pub version: String,
    pub primary_arch: String,
    pub id: Option<String>,
    pub created: Option<i64>,
    pub modified: Option<i64>,
    pub descriptors_free: i64,
    pub descriptors_total: i64,
    pub descriptors_offset: i64,
    pub descriptors_size: i64,
    pub data_offset: i64,
    pub data_size: i64,
}

impl From<&Header> for HeaderJson {
    fn from(h: &Header) -> Self {
        let t = |v: i64| (v != ZERO_TIME).then_some(v);
        HeaderJson {
            launch_script: String::from_utf8_lossy(&h.launch_script).into_owned(),
            version: "01".into(),
            primary_arch: h.arch.to_string(),
            id: h.uuid(),
            created: t(h.created),
            modified: t(h.modified),
            descriptors_free: h.descriptors_free,
            descriptors_total: h.descriptors_total,
            descriptors_offset: h.descriptors_offset,
            descriptors_size: h.descriptors_size,
            data_offset: h.data_offset,
            data_size: h.data_size,
        }
    }
}

/// JSON form of a descriptor (`--json`).
#[derive(Debug, Serialize)]
pub struct DescriptorJson {
    pub id: u32,
    pub group: Option<u32>,
    pub link: Option<u32>,
    pub link_is_group: bool,
    pub data_type: String,
    pub data_type_raw: i32,
    pub type_label: String,
    pub offset: i64,
    pub size: i64,
    pub size_with_padding: i64,
    pub created: Option<i64>,
    pub modified: Option<i64>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl From<&Descriptor> for DescriptorJson {
    fn from(d: &Descriptor) -> Self {
        let t = |v: i64| (v != ZERO_TIME).then_some(v);
        let mut j = DescriptorJson {
            id: d.id,
            group: (d.group() != 0).then_some(d.group()),
            link: match d.link {
                Link::None => None,
                Link::Object(i) | Link::Group(i) => Some(i),
            },
            link_is_group: matches!(d.link, Link::Group(_)),
            data_type: d.data_type.to_string(),
            data_type_raw: d.data_type.raw(),
            type_label: d.type_label(),
            offset: d.offset,
            size: d.size,
            size_with_padding: d.size_with_padding,
            created: t(d.created),
            modified: t(d.modified),
            name: d.name.clone(),
            fs_type: None,
            partition_type: None,
            arch: None,
            hash_type: None,
            entity: None,
            format: None,
            message_type: None,
            digest: None,
        };
        match &d.extra {
            Extra::Partition { fs, part, arch } => {
                j.fs_type = Some(fs.to_string());
                j.partition_type = Some(part.to_string());
                j.arch = Some(arch.to_string());
            }
            Extra::Signature { hash, entity } => {
                j.hash_type = Some(hash.to_string());
                j.entity = Some(hex::encode_upper(entity));
            }
            Extra::CryptoMessage { format, message } => {
                j.format = Some(format.to_string());
                j.message_type = Some(message.to_string());
            }
            Extra::Sbom { format } => j.format = Some(format.to_string()),
            Extra::Digest(dg) => j.digest = Some(dg.clone()),
            Extra::None => {}
        }
        j
    }
}

/// `list --json`: every used descriptor.
pub fn list_json<R: ReadAt>(sif: &Sif<R>) -> serde_json::Value {
    let v: Vec<DescriptorJson> = sif.descriptors().iter().map(Into::into).collect();
    serde_json::to_value(v).unwrap_or_default()
}
