//! Which containers use a bundle: read from the runtime state dir (`--root`), for
//! `sifrun umount` (bundle-tools asks, the runtime answers).

use std::fs;
use std::path::Path;

/// IDs of containers in the runtime state dir `root` whose bundle is `bundle`.
pub fn containers_using(bundle: &Path, root: &Path) -> Vec<String> {
    let bundle = fs::canonicalize(bundle).unwrap_or_else(|_| bundle.to_path_buf());
    let Ok(rd) = fs::read_dir(root) else {
        return vec![];
    };
    let mut ids = vec![];
    for e in rd.flatten() {
        let state = e.path().join("state.json");
        let Ok(b) = fs::read(&state) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) else {
            continue;
        };
        let b = v
            .get("bundle")
            .or_else(|| v.pointer("/state/bundle"))
            .and_then(|b| b.as_str());
        if b.is_some_and(|b| Path::new(b) == bundle) {
            ids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    ids.sort();
    ids
}

/// The question `bundle_tools::mount::umount` asks, answered from `root`: the first
/// container (by id) still using the bundle.
pub fn user_of(root: &Path) -> impl Fn(&Path) -> Option<String> + '_ {
    move |bundle| containers_using(bundle, root).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_containers_of_a_bundle() {
        let tmp = std::env::temp_dir().join(format!("sifrun-bundle-users-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let (bundle, root) = (tmp.join("bundle"), tmp.join("state-root"));
        fs::create_dir_all(&bundle).unwrap();
        let bundle = fs::canonicalize(&bundle).unwrap();
        for (id, state) in [
            ("ctr2", serde_json::json!({"state": {"bundle": bundle}})),
            ("ctr1", serde_json::json!({"id": "ctr1", "bundle": bundle})),
            ("other", serde_json::json!({"bundle": "/elsewhere"})),
        ] {
            fs::create_dir_all(root.join(id)).unwrap();
            fs::write(root.join(id).join("state.json"), state.to_string()).unwrap();
        }
        fs::create_dir_all(root.join("broken")).unwrap();
        fs::write(root.join("broken/state.json"), "{").unwrap();
        assert_eq!(containers_using(&bundle, &root), ["ctr1", "ctr2"]);
        assert_eq!(user_of(&root)(&bundle).as_deref(), Some("ctr1"));
        assert_eq!(user_of(&tmp.join("nope"))(&bundle), None);
        fs::remove_dir_all(&tmp).unwrap();
    }
}
