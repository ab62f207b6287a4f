//! Ingress runs below consensus.
//!
//! Everything that admits transactions (RPC parsing and admission, admission of what peers relay,
//! the journal's fsyncs) and the storage's background work shares the cores with consensus. Under
//! load, votes and block verification waited in the run queue behind admission work, and views
//! stretched with the offered load. Threads doing ingress lower their own scheduling priority
//! (nice [`INGRESS_NICE`]) so that consensus runs first when both are ready; when consensus is
//! idle, ingress still gets every core. A flood of submissions then slows submissions, not
//! consensus.

/// The nice value ingress threads run at (consensus runs at the process's own, usually 0).
/// Measured with `ordo-bench` on 2 cores, runs alternated. Nice 10 against none, 6 runs each:
/// half-load submit -> notarized p50 ~211 -> ~136 ms, p99 ~730 -> ~308 ms, saturation ~17,700
/// -> ~16,700 tx/s. Nice 5 against 10, 3 runs each: saturation ~20,200 -> ~22,700 tx/s, p50
/// ~128 -> ~132 ms, p99 ~315 -> ~457 ms (ingress starved less at saturation).
pub const INGRESS_NICE: i32 = 5;

/// Lowers the calling thread to [`INGRESS_NICE`] (never raises it). On Linux a nice value
/// belongs to one thread; elsewhere it would apply to the whole process, so this does nothing.
pub fn lower_to_ingress() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls on integers; `who = 0` is the calling thread on Linux.
        let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        if current < INGRESS_NICE {
            // SAFETY: as above.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, INGRESS_NICE) } != 0 {
                tracing::warn!(
                    error = %std::io::Error::last_os_error(),
                    "cannot lower an ingress thread's priority"
                );
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice() -> i32 {
        // SAFETY: reads the calling thread's nice value.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = nice();
        let lowered = std::thread::spawn(|| {
            lower_to_ingress();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, INGRESS_NICE.max(before));
        assert_eq!(nice(), before, "the test thread keeps its priority");
        // A thread already below ingress priority is left where it is.
        let lower = std::thread::spawn(move || {
            // SAFETY: lowers this test thread only.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, INGRESS_NICE + 5) };
            lower_to_ingress();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(lower, (INGRESS_NICE + 5).min(19));
    }
}
