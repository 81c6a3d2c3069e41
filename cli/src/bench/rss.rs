//! A process's resident memory, from `/proc/PID/status`.

/// The `VmRSS` of process `pid`, in KiB.
pub(crate) fn read(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("no VmRSS line in {path}"))
}

/// The sum of the `VmRSS` of every process in `pids`, in KiB: the memory
/// of several servers that serve one room together.
pub(crate) fn read_sum(pids: &super::args::List<u32>) -> Result<u64, String> {
    pids.0
        .iter()
        .try_fold(0u64, |sum, &pid| Ok(sum.saturating_add(read(pid)?)))
}

/// The value of the `VmRSS:   1234 kB` line, in KiB.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::args::List;

    #[test]
    fn vm_rss_is_found_among_the_lines() {
        let status = "Name:\tchat\nVmPeak:\t  99 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120));
    }

    #[test]
    fn odd_status_files_give_none() {
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t lots kB\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\t 12 MB\n"), None);
    }

    #[test]
    fn our_own_rss_is_readable() {
        let rss = read(std::process::id()).expect("a running process has a VmRSS");
        assert!(rss > 0);
    }

    #[test]
    fn the_memory_of_several_processes_is_summed() {
        let me = std::process::id();
        let one = read_sum(&List(vec![me])).expect("our own VmRSS");
        let twice = read_sum(&List(vec![me, me])).expect("our own VmRSS, twice");
        assert!(one > 0 && twice > one, "{one} {twice}");
        // pid_max is at most 2^22: no process has this pid.
        assert!(read_sum(&List(vec![me, u32::MAX])).is_err());
    }
}
