//! Container networking for berth. The daemon drives it; nothing here knows the Engine
//! API or the daemon's state. Everything that touches the kernel (netlink, nftables,
//! sysctls, namespaces) is behind small functions with tested inputs and outputs.

pub mod counters;
pub mod dns;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod resolvconf;
