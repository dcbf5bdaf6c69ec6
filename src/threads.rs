//! candle's CPU thread count, worked out once per process. candle asks for it on every matrix
//! product (`candle_core::utils::get_num_threads`): unless `RAYON_NUM_THREADS` is set it works
//! the physical core count out again each time, on Linux by parsing `/proc/cpuinfo`
//! (`num_cpus::get_physical`), which has the kernel format the whole file each time. A triage
//! turn makes about 200 matrix products; in a profile of one, that formatting and its syscalls
//! were about 2 % of the samples (docs/performance.md, "Triage classifier per turn"). With the
//! variable set to the same count, each call is one environment lookup and nothing else changes.

/// The environment variable candle (and rayon) read for their thread count.
pub const VAR: &str = "RAYON_NUM_THREADS";

/// Sets [`VAR`] to the count candle would work out itself, when it is not set already (an
/// operator's value stands).
///
/// # Safety
/// Writes the process environment: call it before any other thread exists (the first statement
/// of `main`, a benchmark's setup), so that nothing reads the environment meanwhile.
pub unsafe fn pin_candle_threads() {
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let n = candle_core::utils::get_num_threads();
    // SAFETY: the caller guarantees no other thread exists yet.
    unsafe { std::env::set_var(VAR, n.to_string()) };
}
