//! The delivery threads: a fixed number of them step every webhook's worker, so a daemon
//! with two thousand webhooks has the same few threads as one with one. A worker is stepped
//! by one thread at a time, so its receiver still gets one request at a time, in queue order.
//! A step delivers at most one group (see `GROUP`), then the worker goes to the back of the
//! line, or sleeps until its next event is due or its bell rings.
//!
//! The bound: with `threads` of them, that many receivers that hang hold the others up to
//! the request timeout (`[delivery] request_timeout`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Bell;

/// How many delivery threads a daemon has.
pub const THREADS: usize = 16;

/// What the pool steps: a webhook's worker (or, in tests, a stand-in).
pub trait Task: Send + 'static {
    fn step(&mut self) -> Turn;
    /// Names it in a message (its webhook).
    fn name(&self) -> String;
}

/// What a worker wants after a step.
pub enum Turn {
    /// Another step as soon as its turn comes.
    Again,
    /// A step at this time, or when its bell rings.
    At(Instant),
    /// It stopped.
    Done,
}

impl Turn {
    pub fn after(wait: Duration) -> Turn {
        Turn::At(Instant::now() + wait)
    }
}

/// Told when a worker has stopped.
#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    cv: Condvar,
}

/// A worker in the pool, to wait for once it is told to stop.
pub struct Handle {
    finished: Arc<Finished>,
}

impl Handle {
    pub fn is_finished(&self) -> bool {
        *self.finished.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the worker has stopped, or `deadline`; returns whether it has.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut done = self.finished.done.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = self
                .finished
                .cv
                .wait_timeout(done, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    pub fn wait(&self) {
        let mut done = self.finished.done.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            done = self
                .finished
                .cv
                .wait(done)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A worker and what the pool knows of it.
struct Slot {
    /// There when no thread is stepping it.
    worker: Option<Box<dyn Task>>,
    /// In `ready` already.
    queued: bool,
    /// Its bell rang while a thread stepped it: it goes on at once.
    rung: bool,
    /// Its timer: older entries in the heap are stale.
    timer: u64,
    finished: Arc<Finished>,
}

#[derive(Default)]
struct Schedule {
    slots: HashMap<u64, Slot>,
    ready: VecDeque<u64>,
    timers: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    next_key: u64,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    schedule: Mutex<Schedule>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Worker `key`'s bell rang: it is stepped as soon as a thread is free.
    fn ring(&self, key: u64) {
        let mut s = self.lock();
        let Some(slot) = s.slots.get_mut(&key) else {
            return;
        };
        if slot.worker.is_none() {
            slot.rung = true;
        } else if !slot.queued {
            slot.queued = true;
            s.ready.push_back(key);
            self.cv.notify_one();
        }
    }
}

/// The delivery threads and the workers they step.
pub struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared::default());
        let threads = (0..threads.max(1))
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("deliver-{i}"))
                    .spawn(move || serve(&shared))
                    .expect("the system can start a thread")
            })
            .collect();
        Pool { shared, threads }
    }

    /// Adds `worker`, stepped at once and then as it asks; its bell wakes it.
    pub fn add(&self, worker: impl Task, bell: &Bell) -> Handle {
        let finished = Arc::new(Finished::default());
        let mut s = self.shared.lock();
        let key = s.next_key;
        s.next_key += 1;
        s.slots.insert(
            key,
            Slot {
                worker: Some(Box::new(worker)),
                queued: true,
                rung: false,
                timer: 0,
                finished: Arc::clone(&finished),
            },
        );
        s.ready.push_back(key);
        drop(s);
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        bell.wake_with(Box::new(move || {
            if let Some(shared) = shared.upgrade() {
                shared.ring(key);
            }
        }));
        self.shared.cv.notify_one();
        Handle { finished }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.cv.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One delivery thread: steps the workers whose turn it is.
fn serve(shared: &Shared) {
    loop {
        let (key, mut worker) = {
            let mut s = shared.lock();
            loop {
                if s.closing {
                    return;
                }
                let now = Instant::now();
                while let Some(&Reverse((at, key, timer))) = s.timers.peek() {
                    if at > now {
                        break;
                    }
                    s.timers.pop();
                    let due = s.slots.get_mut(&key).filter(|slot| {
                        slot.timer == timer && slot.worker.is_some() && !slot.queued
                    });
                    if let Some(slot) = due {
                        slot.queued = true;
                        s.ready.push_back(key);
                    }
                }
                if let Some(key) = s.ready.pop_front() {
                    let Some(slot) = s.slots.get_mut(&key) else {
                        continue;
                    };
                    slot.queued = false;
                    let Some(worker) = slot.worker.take() else {
                        continue;
                    };
                    slot.rung = false;
                    break (key, worker);
                }
                s = match s.timers.peek() {
                    Some(&Reverse((at, _, _))) => {
                        let wait = at.saturating_duration_since(now);
                        shared
                            .cv
                            .wait_timeout(s, wait)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    None => shared.cv.wait(s).unwrap_or_else(|p| p.into_inner()),
                };
            }
        };
        let turn =
            std::panic::catch_unwind(AssertUnwindSafe(|| worker.step())).unwrap_or_else(|_| {
                log::error!(
                    "the delivery worker of {} ended with a panic",
                    worker.name()
                );
                Turn::Done
            });
        let mut s = shared.lock();
        let Some(slot) = s.slots.get_mut(&key) else {
            continue;
        };
        match turn {
            Turn::Done => {
                let finished = Arc::clone(&slot.finished);
                s.slots.remove(&key);
                drop(s);
                drop(worker);
                *finished.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
                finished.cv.notify_all();
                continue;
            }
            Turn::Again => {
                slot.worker = Some(worker);
                slot.queued = true;
                s.ready.push_back(key);
            }
            Turn::At(at) => {
                slot.worker = Some(worker);
                if slot.rung {
                    slot.queued = true;
                    s.ready.push_back(key);
                } else {
                    slot.timer += 1;
                    let timer = slot.timer;
                    s.timers.push(Reverse((at, key, timer)));
                }
            }
        }
        drop(s);
        shared.cv.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Steps `steps` times (each a little work), checking nothing else steps it meanwhile.
    struct Counter {
        in_step: Arc<AtomicUsize>,
        steps: Arc<Mutex<Vec<u32>>>,
        left: u32,
    }

    impl Task for Counter {
        fn step(&mut self) -> Turn {
            assert_eq!(
                self.in_step.fetch_add(1, Ordering::SeqCst),
                0,
                "stepped twice at once"
            );
            std::thread::sleep(Duration::from_micros(200));
            self.steps.lock().unwrap().push(self.left);
            self.in_step.fetch_sub(1, Ordering::SeqCst);
            if self.left == 0 {
                return Turn::Done;
            }
            self.left -= 1;
            Turn::Again
        }
        fn name(&self) -> String {
            "a counter".into()
        }
    }

    #[test]
    fn many_tasks_on_few_threads_are_each_stepped_one_at_a_time_in_order() {
        let pool = Pool::new(3);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let steps = Arc::new(Mutex::new(Vec::new()));
            let bell = Bell::default();
            let handle = pool.add(
                Counter {
                    in_step: Arc::default(),
                    steps: Arc::clone(&steps),
                    left: 20,
                },
                &bell,
            );
            tasks.push((steps, handle));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for (steps, handle) in tasks {
            assert!(handle.wait_until(deadline), "a task did not finish");
            let steps = steps.lock().unwrap();
            assert_eq!(*steps, (0..=20).rev().collect::<Vec<u32>>());
        }
    }

    /// Blocks in its first step until told, like a request to a receiver that hangs.
    struct Hung(mpsc::Receiver<()>);

    impl Task for Hung {
        fn step(&mut self) -> Turn {
            let _ = self.0.recv();
            Turn::Done
        }
        fn name(&self) -> String {
            "a hung receiver".into()
        }
    }

    #[test]
    fn a_task_that_hangs_holds_one_thread_and_the_others_go_on() {
        let pool = Pool::new(2);
        let (release, hung) = mpsc::channel();
        let bell = Bell::default();
        let stuck = pool.add(Hung(hung), &bell);
        let steps = Arc::new(Mutex::new(Vec::new()));
        let other = pool.add(
            Counter {
                in_step: Arc::default(),
                steps: Arc::clone(&steps),
                left: 50,
            },
            &Bell::default(),
        );
        assert!(other.wait_until(Instant::now() + Duration::from_secs(10)));
        assert!(!stuck.is_finished());
        release.send(()).unwrap();
        assert!(stuck.wait_until(Instant::now() + Duration::from_secs(10)));
    }

    /// Asks to be stepped again after each of `waits` in turn (the last again and again), until
    /// stopped; records when it was stepped.
    struct Sleeper {
        waits: Vec<Duration>,
        steps: usize,
        stepped: mpsc::Sender<Instant>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Task for Sleeper {
        fn step(&mut self) -> Turn {
            // Read the stop before saying it was stepped: the test may set it as soon as it
            // hears of this step, and this step must not end the task before the next ring.
            let stop = self.stop.load(Ordering::SeqCst);
            let _ = self.stepped.send(Instant::now());
            if stop {
                return Turn::Done;
            }
            let wait = self.waits[self.steps.min(self.waits.len() - 1)];
            self.steps += 1;
            Turn::after(wait)
        }
        fn name(&self) -> String {
            "a sleeper".into()
        }
    }

    #[test]
    fn a_task_sleeps_until_its_time_and_its_bell_wakes_it_early() {
        let pool = Pool::new(2);
        let (tx, stepped) = mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bell = Bell::default();
        let handle = pool.add(
            Sleeper {
                waits: vec![Duration::from_millis(300), Duration::from_secs(600)],
                steps: 0,
                stepped: tx,
                stop: Arc::clone(&stop),
            },
            &bell,
        );
        let first = stepped.recv_timeout(Duration::from_secs(5)).unwrap();
        let second = stepped.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            second - first >= Duration::from_millis(300),
            "stepped before its time"
        );
        // A ring (a new event, a request, a stop) does not wait for the time: now ten minutes.
        stop.store(true, Ordering::SeqCst);
        bell.ring();
        stepped
            .recv_timeout(Duration::from_secs(30))
            .expect("the bell woke it");
        assert!(handle.wait_until(Instant::now() + Duration::from_secs(5)));
        assert!(
            !Handle {
                finished: Arc::default()
            }
            .wait_until(Instant::now())
        );
    }
}
