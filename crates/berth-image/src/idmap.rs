//! Id mappings of a user-namespace-remapped daemon (`--userns-remap`): which host uid/gid
//! a uid/gid inside the container stands for. Layers of such a daemon are unpacked with
//! their owners shifted, so that root in a layer is the remapped root on the host.

/// One contiguous range: container ids `container_id..container_id+size` are host ids
/// `host_id..host_id+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id inside the container.
    pub container_id: u32,
    /// The host id it maps to.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// The uid and gid ranges of a remapped daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    /// uid ranges.
    pub uids: Vec<IdRange>,
    /// gid ranges.
    pub gids: Vec<IdRange>,
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let off = id.checked_sub(r.container_id)?;
        (off < r.size).then(|| r.host_id + off)
    })
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let off = id.checked_sub(r.host_id)?;
        (off < r.size).then(|| r.container_id + off)
    })
}

impl IdMap {
    /// Host uid of a container uid; `None` when the container id is not mapped.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        to_host(&self.uids, uid)
    }

    /// Host gid of a container gid.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        to_host(&self.gids, gid)
    }

    /// Container uid of a host uid.
    pub fn container_uid(&self, uid: u32) -> Option<u32> {
        to_container(&self.uids, uid)
    }

    /// Container gid of a host gid.
    pub fn container_gid(&self, gid: u32) -> Option<u32> {
        to_container(&self.gids, gid)
    }

    /// The host ids of the container's root (uid 0, gid 0).
    pub fn root_pair(&self) -> Option<(u32, u32)> {
        Some((self.host_uid(0)?, self.host_gid(0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let m = IdMap {
            uids: vec![
                IdRange {
                    container_id: 0,
                    host_id: 100000,
                    size: 1000,
                },
                IdRange {
                    container_id: 1000,
                    host_id: 500000,
                    size: 10,
                },
            ],
            gids: vec![IdRange {
                container_id: 0,
                host_id: 200000,
                size: 65536,
            }],
        };
        assert_eq!(m.host_uid(0), Some(100000));
        assert_eq!(m.host_uid(999), Some(100999));
        assert_eq!(m.host_uid(1000), Some(500000));
        assert_eq!(m.host_uid(1010), None);
        assert_eq!(m.host_gid(65535), Some(265535));
        assert_eq!(m.host_gid(65536), None);
        assert_eq!(m.container_uid(500009), Some(1009));
        assert_eq!(m.container_uid(0), None);
        assert_eq!(m.root_pair(), Some((100000, 200000)));
    }
}
