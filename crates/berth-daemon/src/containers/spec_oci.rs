//! The bundle an OCI runtime binary gets: berth's spec, less what only the built-in
//! runtime does.

use crate::error::Result;
use berth_api::ApiError;
use oci_spec::runtime::{LinuxNamespaceType, MountBuilder, Spec};

/// Where `--init`'s binary is mounted in a container under an OCI runtime (dockerd's).
const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

/// Turns the built-in runtime's spec into one any OCI runtime runs as dockerd's: no time
/// namespace (runc before 1.2 refuses it; Docker never makes one), and `--init` as
/// dockerd does it: the host's docker-init (tini) bound read-only at /sbin/docker-init
/// and run before the command.
pub fn for_oci_runtime(spec: &mut Spec) -> Result<()> {
    if let Some(linux) = spec.linux_mut().as_mut() {
        if let Some(ns) = linux.namespaces_mut() {
            ns.retain(|n| n.typ() != LinuxNamespaceType::Time);
        }
    }
    let wants_init = spec
        .annotations_mut()
        .as_mut()
        .and_then(|a| a.remove("org.berth.init"))
        .is_some_and(|v| v == "true");
    if !wants_init {
        return Ok(());
    }
    let init = ["docker-init", "tini-static"]
        .iter()
        .find_map(|name| crate::runtimes::find_on_path(name))
        .ok_or_else(|| {
            ApiError::invalid(
                "--init with an OCI runtime needs docker-init or tini-static (Debian: tini) on the daemon's PATH",
            )
        })?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        MountBuilder::default()
            .destination(INIT_IN_CONTAINER)
            .typ("bind")
            .source(init)
            .options(vec!["bind".into(), "ro".into()])
            .build()
            .map_err(|e| crate::error::DaemonError::Other(format!("build runtime spec: {e}")))?,
    );
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut().as_mut() {
        let mut args = vec![INIT_IN_CONTAINER.to_string(), "--".to_string()];
        args.extend(p.args().clone().unwrap_or_default());
        p.set_args(Some(args));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(init: bool) -> Spec {
        let mut spec = berth_runtime::defaults::default_spec();
        let mut linux = spec.linux().clone().unwrap_or_default();
        let mut ns = linux.namespaces().clone().unwrap_or_default();
        ns.push(
            oci_spec::runtime::LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Time)
                .build()
                .unwrap(),
        );
        linux.set_namespaces(Some(ns));
        spec.set_linux(Some(linux));
        if init {
            let mut a = std::collections::HashMap::new();
            a.insert("org.berth.init".to_string(), "true".to_string());
            spec.set_annotations(Some(a));
        }
        spec.process_mut()
            .as_mut()
            .unwrap()
            .set_args(Some(vec!["sleep".into(), "1".into()]));
        spec
    }

    #[test]
    fn no_time_namespace_for_runtimes_that_do_not_know_it() {
        let mut spec = spec_with(false);
        for_oci_runtime(&mut spec).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(ns.iter().all(|n| n.typ() != LinuxNamespaceType::Time));
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid));
        let args = spec.process().as_ref().unwrap().args().clone().unwrap();
        assert_eq!(args, vec!["sleep".to_string(), "1".to_string()]);
    }

    #[test]
    fn init_is_the_hosts_docker_init_bound_read_only() {
        let mut spec = spec_with(true);
        match for_oci_runtime(&mut spec) {
            Ok(()) => {
                let args = spec.process().as_ref().unwrap().args().clone().unwrap();
                assert_eq!(args, ["/sbin/docker-init", "--", "sleep", "1"]);
                let m = spec.mounts().as_ref().unwrap().last().unwrap().clone();
                assert_eq!(m.destination(), std::path::Path::new("/sbin/docker-init"));
                assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
                let annotations = spec.annotations().clone().unwrap_or_default();
                assert!(!annotations.contains_key("org.berth.init"));
            }
            // A host without tini: a clear 400, not a container without its init.
            Err(e) => assert!(e.to_string().contains("docker-init"), "{e}"),
        }
    }
}
