//! `sifrun spec` (default and `--rootless` configs, no overwrite) and `sifrun
//! features`.

use crate::common::*;

#[test]
fn spec_and_features() {
    let dir = TmpDir::new("spec");
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--bundle"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_ok(&o, "spec");
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(c["root"]["path"], "rootfs");
    assert_eq!(c["ociVersion"], "1.3.0");
    assert!(c["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "/proc/kcore"));
    // Refuses to overwrite.
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--bundle"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_one_line_error(&o, Some("exists"));
    let dir2 = TmpDir::new("spec-rl");
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--rootless", "--bundle"])
        .arg(&dir2.path)
        .output()
        .unwrap();
    assert_ok(&o, "spec --rootless");
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir2.join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user") && !ns.contains(&"network"), "{ns:?}");
    assert!(c["linux"]["uidMappings"][0]["hostID"].is_number());

    let o = std::process::Command::new(SIFRUN)
        .arg("features")
        .output()
        .unwrap();
    assert_ok(&o, "features");
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "time"));
    assert!(f["linux"]["memoryPolicy"]["modes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "MPOL_WEIGHTED_INTERLEAVE"));
    assert!(f["linux"]["memoryPolicy"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "MPOL_F_STATIC_NODES"));
    assert!(f["potentiallyUnsafeConfigAnnotations"].is_array());
    assert!(f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "createRuntime"));
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "user"));
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    // runc 1.2's seccomp flag lists; this kernel (>= 5.19) takes all four
    for key in ["knownFlags", "supportedFlags"] {
        let flags = f["linux"]["seccomp"][key]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for flag in [
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ] {
            assert!(
                flags.iter().any(|x| x == flag),
                "{key} lacks {flag}: {flags:?}"
            );
        }
    }
}
