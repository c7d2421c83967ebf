//! Process limits the server and the load tool raise for themselves.

/// Raises this process's limit on open files to at least `wanted` if it can
/// (the hard limit too, which takes root), else to the hard limit, so that
/// thousands of connections do not fail with "too many open files". Returns
/// the soft limit in force (`None`: unlimited).
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    if current >= wanted {
        return Some(current);
    }
    let to = |current: u64, maximum: Option<u64>| Rlimit {
        current: Some(current),
        maximum,
    };
    // Best effort: a refusal leaves the limit as it was, or at the hard limit.
    let _ = match limit.maximum {
        None => setrlimit(Resource::Nofile, to(wanted, None)),
        Some(max) if max >= wanted => setrlimit(Resource::Nofile, to(wanted, Some(max))),
        Some(max) => setrlimit(Resource::Nofile, to(wanted, Some(wanted)))
            .or_else(|_| setrlimit(Resource::Nofile, to(max, Some(max)))),
    };
    getrlimit(Resource::Nofile).current
}
