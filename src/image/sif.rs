//! `sifrun sif list|info|header IMAGE`: inspect a SIF without external tools.
//! `sifrun sif build [--oci] [-q] OUT SOURCE`: build a SIF / OCI-SIF.
//! `sifrun sif verify IMAGE [--key FILE]... [--json]`: check its signatures.
//! `sifrun sif sign --key PRIVATE.pem IMAGE`: add one.

use std::path::PathBuf;

use anyhow::Context;
use bundle_tools::build;
use bundle_tools::listing;
use bundle_tools::sif::Sif as SifImage;
use bundle_tools::verify;

use crate::runtime::ctx::ExitWith;

#[derive(clap::Args, Debug)]
pub struct Sif {
    #[command(subcommand)]
    pub cmd: SifCmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum SifCmd {
    /// List the data objects (ID, GROUP, LINK, SIF POSITION, TYPE)
    List {
        image: PathBuf,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one object's descriptor
    Info {
        image: PathBuf,
        id: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show the global header
    Header {
        image: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Build an OCI-SIF from an OCI image, or a native SIF (or OCI-SIF) from a directory
    Build(BuildArgs),
    /// Sign every object group of the image with an Ed25519 private key (PKCS#8 PEM,
    /// e.g. from `openssl genpkey -algorithm ed25519`): a DSSE signature as
    /// `singularity sign --key` adds; the image is changed in place
    Sign {
        /// SIF or OCI-SIF image
        image: PathBuf,
        /// Private key (PEM)
        #[arg(long = "key", value_name = "FILE")]
        key: PathBuf,
    },
    /// Verify the image's signatures (PGP, DSSE, legacy) and OCI blob digests: exit 0
    /// only if every signature is valid and one was checked against a given key,
    /// 1 if not, 2 if the image or a key file cannot be used
    Verify {
        /// SIF or OCI-SIF image
        image: PathBuf,
        /// Public key: OpenPGP (armored or binary) or PEM SPKI (Ed25519, RSA, ECDSA);
        /// repeatable
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Make an OCI-SIF from dir: too (OCI sources always give an OCI-SIF)
    #[arg(long)]
    pub oci: bool,
    /// No progress output on a terminal (there is none when stderr is not one)
    #[arg(short, long)]
    pub quiet: bool,
    /// dir: only: file to use as /.singularity.d/runscript
    #[arg(long, value_name = "FILE")]
    pub runscript: Option<PathBuf>,
    /// dir: only: environment variable for the image (repeatable)
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// dir: only: image label (repeatable)
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_kv)]
    pub label: Vec<(String, String)>,
    /// Scratch directory (default: the output file's directory)
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,
    /// Output file
    pub out: PathBuf,
    /// oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or dir:ROOTFS
    pub source: String,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("expected KEY=VAL, got {s:?}")),
    }
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let spec = build::SourceSpec::parse(&a.source)?;
    let opts = build::BuildOptions {
        oci: a.oci,
        quiet: a.quiet,
        runscript: a.runscript,
        env: a.env,
        labels: a.label,
        tmpdir: a.tmpdir,
    };
    build::build(&a.out, &spec, &opts).with_context(|| format!("build {}", a.out.display()))?;
    Ok(())
}

/// Exit codes as gpg's: 1 = did not verify, 2 = could not check.
fn verify(image: &std::path::Path, keys: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let report = verify::verify_image(image, keys).map_err(|e| ExitWith {
        code: 2,
        error: anyhow::anyhow!("verify {}: {e}", image.display()),
    })?;
    if json {
        print_json(&report)?;
    } else {
        print!("{}", report.to_text());
    }
    if !report.verified {
        return Err(ExitWith {
            code: 1,
            error: anyhow::anyhow!("{}: not verified: {}", image.display(), report.summary()),
        }
        .into());
    }
    Ok(())
}

fn open(p: &std::path::Path) -> anyhow::Result<SifImage> {
    SifImage::open(p).with_context(|| format!("{}", p.display()))
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn sif(args: Sif) -> anyhow::Result<()> {
    match args.cmd {
        SifCmd::Build(a) => build(a),
        SifCmd::Verify { image, keys, json } => verify(&image, &keys, json),
        SifCmd::Sign { image, key } => {
            let ids = verify::sign::sign_image(&image, &key)
                .with_context(|| format!("sign {}", image.display()))?;
            let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
            eprintln!(
                "sifrun: signed {} (signature object {})",
                image.display(),
                ids.join(", ")
            );
            Ok(())
        }
        SifCmd::List { image, json } => {
            let sif = open(&image)?;
            if json {
                print_json(&listing::list_json(&sif))
            } else {
                print!("{}", listing::list_text(&sif));
                Ok(())
            }
        }
        SifCmd::Info { image, id, json } => {
            let sif = open(&image)?;
            let d = sif
                .descriptor(id)
                .with_context(|| format!("{}", image.display()))?;
            if json {
                print_json(&listing::DescriptorJson::from(d))
            } else {
                print!("{}", listing::info_text(d));
                Ok(())
            }
        }
        SifCmd::Header { image, json } => {
            let sif = open(&image)?;
            if json {
                print_json(&listing::HeaderJson::from(sif.header()))
            } else {
                print!("{}", listing::header_text(sif.header()));
                Ok(())
            }
        }
    }
}
