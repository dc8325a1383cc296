//! SIF enumerations (data types, partition metadata, hash/format codes) and the names
//! `siftool` prints for them.

use std::fmt;

/// Object data type (descriptor bytes 0..4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Deffile,
    EnvVar,
    Labels,
    Partition,
    Signature,
    GenericJson,
    Generic,
    CryptoMessage,
    Sbom,
    OciRootIndex,
    OciBlob,
    /// A value this crate does not know; kept so newer files still list.
    Other(i32),
}

impl DataType {
    pub fn from_raw(v: i32) -> Self {
        match v {
            0x4001 => Self::Deffile,
            0x4002 => Self::EnvVar,
            0x4003 => Self::Labels,
            0x4004 => Self::Partition,
            0x4005 => Self::Signature,
            0x4006 => Self::GenericJson,
            0x4007 => Self::Generic,
            0x4008 => Self::CryptoMessage,
            0x4009 => Self::Sbom,
            0x400A => Self::OciRootIndex,
            0x400B => Self::OciBlob,
            o => Self::Other(o),
        }
    }

    pub fn raw(self) -> i32 {
        match self {
            Self::Deffile => 0x4001,
            Self::EnvVar => 0x4002,
            Self::Labels => 0x4003,
            Self::Partition => 0x4004,
            Self::Signature => 0x4005,
            Self::GenericJson => 0x4006,
            Self::Generic => 0x4007,
            Self::CryptoMessage => 0x4008,
            Self::Sbom => 0x4009,
            Self::OciRootIndex => 0x400A,
            Self::OciBlob => 0x400B,
            Self::Other(o) => o,
        }
    }

    /// The name siftool / `singularity sif list` print.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deffile => "Def.FILE",
            Self::EnvVar => "Env.Vars",
            Self::Labels => "JSON.Labels",
            Self::Partition => "FS",
            Self::Signature => "Signature",
            Self::GenericJson => "JSON.Generic",
            Self::Generic => "Generic/Raw",
            Self::CryptoMessage => "Cryptographic Message",
            Self::Sbom => "SBOM",
            Self::OciRootIndex => "OCI.RootIndex",
            Self::OciBlob => "OCI.Blob",
            Self::Other(_) => "Unknown",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $val:expr => $s:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($var,)+ Other(i32) }
        impl $name {
            pub fn from_raw(v: i32) -> Self { match v { $($val => Self::$var,)+ o => Self::Other(o) } }
            pub fn raw(self) -> i32 { match self { $(Self::$var => $val,)+ Self::Other(o) => o } }
            pub fn name(self) -> &'static str { match self { $(Self::$var => $s,)+ Self::Other(_) => "Unknown" } }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

code_enum!(
    /// Partition filesystem type (extra bytes 0..4).
    FsType {
        Squashfs = 1 => "Squashfs",
        Ext3 = 2 => "Ext3",
        ImmuObj = 3 => "Archive",
        Raw = 4 => "Raw",
        EncryptedSquashfs = 5 => "Encrypted squashfs",
    }
);

code_enum!(
    /// Partition type (extra bytes 4..8). `PrimSys` is the container root fs.
    PartType {
        System = 1 => "System",
        PrimSys = 2 => "*System",
        Data = 3 => "Data",
        Overlay = 4 => "Overlay",
    }
);

code_enum!(
    /// Signature hash type.
    HashType {
        Sha256 = 1 => "SHA-256",
        Sha384 = 2 => "SHA-384",
        Sha512 = 3 => "SHA-512",
        Blake2s256 = 4 => "BLAKE2s-256",
        Blake2b256 = 5 => "BLAKE2b-256",
    }
);

code_enum!(
    /// Crypto message format.
    FormatType {
        OpenPgp = 1 => "OpenPGP",
        Pem = 2 => "PEM",
    }
);

code_enum!(
    /// Crypto message type.
    MessageType {
        ClearSignature = 0x100 => "Clear Signature",
        RsaOaep = 0x200 => "RSA-OAEP",
    }
);

code_enum!(
    /// SBOM format.
    SbomFormat {
        CycloneDxJson = 1 => "cyclonedx-json",
        CycloneDxXml = 2 => "cyclonedx-xml",
        GithubJson = 3 => "github-json",
        SpdxJson = 4 => "spdx-json",
        SpdxRdf = 5 => "spdx-rdf",
        SpdxTagValue = 6 => "spdx-tag-value",
        SpdxYaml = 7 => "spdx-yaml",
        SyftJson = 8 => "syft-json",
    }
);

/// Architecture: a two-digit ASCII code in the header and partition metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arch(pub [u8; 2]);

const ARCHES: &[(&str, &str)] = &[
    ("00", "unknown"),
    ("01", "386"),
    ("02", "amd64"),
    ("03", "arm"),
    ("04", "arm64"),
    ("05", "ppc64"),
    ("06", "ppc64le"),
    ("07", "mips"),
    ("08", "mipsle"),
    ("09", "mips64"),
    ("10", "mips64le"),
    ("11", "s390x"),
    ("12", "riscv64"),
    ("13", "loong64"),
];

impl Arch {
    pub const UNKNOWN: Arch = Arch(*b"00");

    /// From the 3 stored bytes (two ASCII digits + NUL).
    pub fn from_bytes(b: &[u8]) -> Self {
        Arch([b[0], b[1]])
    }

    /// From a Go architecture name (`amd64`, `arm64` …).
    pub fn from_go(name: &str) -> Option<Self> {
        ARCHES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| Arch([c.as_bytes()[0], c.as_bytes()[1]]))
    }

    /// The host's architecture.
    pub fn host() -> Self {
        let go = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "arm" => "arm",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            _ => "unknown",
        };
        Self::from_go(go).unwrap_or(Self::UNKNOWN)
    }

    pub fn is_unknown(self) -> bool {
        self.0 == *b"00" || self.0 == [0, 0]
    }

    /// Go name, or "unknown".
    pub fn name(self) -> &'static str {
        ARCHES
            .iter()
            .find(|(c, _)| c.as_bytes() == self.0)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    pub fn to_bytes(self) -> [u8; 3] {
        [self.0[0], self.0[1], 0]
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
