//! Where argon2 runs: two threads of their own, fed by a queue of at most `QUEUE` jobs.
//!
//! An argon2 check or hash of a password takes about 19 MiB and tens of milliseconds. Run on
//! the server's blocking threads (up to 32), a burst of sign-ins took 19 MiB each at once,
//! and the allocator kept it afterwards. Here at most `WORKERS` run, whatever arrives; a job
//! that finds the queue full is refused at once (`Busy`) instead of waiting, so a flood
//! costs neither memory nor threads. A check (`verify`) works in memory its thread keeps from
//! one check to the next: allocated and freed each time, 19 MiB blocks aligned for argon2 were
//! not always given back by the allocator, and a process grew by 19 MiB a check.

use std::cell::RefCell;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// Password checks and hashes that run at once.
pub const WORKERS: usize = 2;
/// Jobs that may wait for a worker; more are refused.
pub const QUEUE: usize = 16;

type Job = Box<dyn FnOnce() + Send>;

/// The queue was full: the job did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many passwords are being checked at once; try again in a moment")]
pub struct Busy;

/// Threads that run jobs, and the queue in front of them.
pub struct Pool {
    jobs: SyncSender<Job>,
}

impl Pool {
    pub fn new(workers: usize, queue: usize) -> Pool {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("passwords-{n}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                // With no worker, jobs wait in the queue until it is full, then are refused:
                // sign-ins fail with a message instead of the daemon stopping.
                log::error!("cannot start a password thread: {e}");
            }
        }
        Pool { jobs: tx }
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
        })
    }

    /// Runs `f` on a worker and waits for it without holding a thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            let _ = tx.send(f());
        }))?;
        rx.await.map_err(|_| Busy)
    }

    /// Runs `f` on a worker, blocking this thread until it is done.
    pub fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(Box::new(move || {
            let _ = tx.send(f());
        }))?;
        rx.recv().map_err(|_| Busy)
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A job that panics loses its answer (its caller sees `Busy`), not the worker.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// The process's pool, started at its first use.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(WORKERS, QUEUE))
}

/// The most argon2 memory a thread keeps between checks, in blocks of 1 KiB: four times
/// what sharehook's own hashes take. A stored hash asking for more is checked in memory of
/// its own, freed after.
const KEPT_BLOCKS: usize = 4 * Params::DEFAULT_M_COST as usize;

thread_local! {
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` is the one `phc` (an argon2 PHC string) was made from; compared in
/// constant time. A string that is not argon2's never matches.
pub fn verify(password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        Params::try_from(&hash),
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut out = vec![0u8; expected.len()];
    let done = argon2_into(
        &Argon2::new(algorithm, version, params),
        password,
        salt.as_ref(),
        &mut out,
    );
    done.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_ref()))
}

/// A new argon2id PHC string of `password`, with argon2's default parameters and a random
/// salt, made in this thread's memory.
pub fn hash(password: &[u8]) -> Result<String, String> {
    use argon2::password_hash::phc::{Output, ParamsString, Salt};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("get random numbers: {e}"))?;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2_into(&argon2, password, &salt, &mut out).map_err(|e| e.to_string())?;
    let made = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(made.to_string())
}

/// Runs `argon2` over `password` and `salt` into `out`, in the memory this thread keeps for
/// it (or, past `KEPT_BLOCKS`, in memory of its own, freed after).
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = argon2.params().block_count();
    if blocks > KEPT_BLOCKS {
        return argon2.hash_password_into_with_memory(
            password,
            salt,
            out,
            vec![Block::default(); blocks],
        );
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn at_most_the_workers_run_at_once_and_a_full_queue_refuses_at_once() {
        let pool = Pool::new(WORKERS, QUEUE);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut taken = Vec::new();
        let mut refused = 0;
        for _ in 0..(WORKERS + QUEUE + 10) {
            let (running, most, gate) =
                (Arc::clone(&running), Arc::clone(&most), Arc::clone(&gate));
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let sent = pool.submit(Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let (open, bell) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = bell.wait(open).unwrap();
                }
                drop(open);
                running.fetch_sub(1, Ordering::SeqCst);
                let _ = done_tx.send(());
            }));
            match sent {
                Ok(()) => taken.push(done_rx),
                Err(Busy) => refused += 1,
            }
        }
        // Nothing ends while the gate is shut: at most the workers' jobs and a full queue
        // were taken, and the rest refused at once.
        assert!(taken.len() <= WORKERS + QUEUE, "{} taken", taken.len());
        assert!(refused >= 10, "{refused} refused");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        for done in taken {
            done.recv().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= WORKERS);
        // A job after the flood runs.
        assert_eq!(pool.run_blocking(|| 7), Ok(7));
    }

    #[test]
    fn a_hash_made_here_is_argon2id_with_its_defaults_and_checks_as_argon2_s_own_does() {
        use argon2::PasswordVerifier;
        let made = hash(b"correct horse").unwrap();
        assert!(
            made.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{made}"
        );
        let parsed = PasswordHash::new(&made).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", &parsed)
                .is_err()
        );
        assert!(verify(b"correct horse", &made));
        assert_ne!(
            hash(b"correct horse").unwrap(),
            made,
            "each has a salt of its own"
        );
    }

    #[test]
    fn a_password_is_verified_against_its_hash_and_nothing_else() {
        use argon2::PasswordHasher;
        let made = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(verify(b"correct horse", &made));
        assert!(!verify(b"correct horsf", &made));
        assert!(!verify(b"", &made));
        // Again on the same thread, with the memory it kept.
        assert!(verify(b"correct horse", &made));
        // Other parameters (less memory, more passes) are read from the string.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 3, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(verify(b"pw", &small));
        assert!(!verify(b"pW", &small));
        for broken in [
            "",
            "$argon2id$",
            "plain text",
            &made.replace("argon2id", "argon2x"),
        ] {
            assert!(!verify(b"correct horse", broken), "{broken}");
        }
    }
}
