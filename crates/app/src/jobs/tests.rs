//! The scheduler on paused time: runs start at once and then exactly on the interval, an
//! overrun delays the next run instead of bunching runs, failures are recorded, and shutdown
//! stops a running job at its next step.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;

use enclave_store::sqlite::{Options, SqliteStore};

use super::{Job, JobCtx, JobReport, Leases, Outcome, Progress, Scheduler, run_once};
use crate::error::{Error, Result};

/// A job of `steps` steps of `step` each, that records when each run started.
struct Steps {
    interval: Duration,
    steps: u64,
    step: Duration,
    fail: bool,
    /// [`Job::once_per_cluster`].
    cluster: bool,
    starts: Mutex<Vec<Instant>>,
}

impl Steps {
    fn new(interval: Duration, steps: u64, step: Duration) -> Arc<Steps> {
        Arc::new(Steps {
            interval,
            steps,
            step,
            fail: false,
            cluster: false,
            starts: Mutex::new(Vec::new()),
        })
    }

    /// Start times relative to `t0`, in whole seconds.
    fn starts_since(&self, t0: Instant) -> Vec<u64> {
        self.starts
            .lock()
            .iter()
            .map(|t| t.duration_since(t0).as_secs())
            .collect()
    }
}

impl Job for Steps {
    fn name(&self) -> &'static str {
        "steps"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn once_per_cluster(&self) -> bool {
        self.cluster
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            self.starts.lock().push(Instant::now());
            let mut done = 0;
            while done < self.steps && !ctx.stopping() {
                tokio::time::sleep(self.step).await;
                done += 1;
                ctx.progress(done, Some(self.steps));
            }
            if self.fail {
                return Err(Error::internal("broken"));
            }
            Ok(JobReport {
                n_items: done,
                summary: format!("{done} step(s)"),
            })
        })
    }
}

#[tokio::test(start_paused = true)]
async fn jobs_run_at_once_then_exactly_on_their_interval() {
    let t0 = Instant::now();
    let job = Steps::new(Duration::from_secs(10), 1, Duration::from_secs(1));
    let scheduler = Scheduler::start(vec![job.clone()]);
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(job.starts_since(t0), vec![0, 10, 20, 30]);
    let status = &scheduler.status()[0];
    assert_eq!(status.name, "steps");
    assert_eq!(status.n_runs, 4);
    assert!(!status.running);
    assert_eq!(status.last_took, Some(Duration::from_secs(1)));
    assert_eq!(
        status.last_outcome,
        Some(Outcome::Done(JobReport {
            n_items: 1,
            summary: "1 step(s)".into()
        }))
    );
    scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_the_interval_delays_the_next_instead_of_bunching() {
    let t0 = Instant::now();
    let job = Steps::new(Duration::from_secs(10), 3, Duration::from_secs(5));
    let scheduler = Scheduler::start(vec![job.clone()]);
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(job.starts_since(t0), vec![0, 15, 30, 45]);
    scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_is_recorded_and_the_next_run_is_on_time() {
    let t0 = Instant::now();
    let job = Arc::new(Steps {
        fail: true,
        ..Arc::into_inner(Steps::new(
            Duration::from_secs(10),
            1,
            Duration::from_secs(1),
        ))
        .unwrap()
    });
    let scheduler = Scheduler::start(vec![job.clone()]);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(job.starts_since(t0), vec![0, 10]);
    let status = &scheduler.status()[0];
    assert!(
        matches!(&status.last_outcome, Some(Outcome::Failed(e)) if e.contains("broken")),
        "{status:?}"
    );
    scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_a_running_job_at_its_next_step_and_nothing_runs_after() {
    let t0 = Instant::now();
    let job = Steps::new(Duration::from_secs(60), 10, Duration::from_secs(1));
    let idle = Steps::new(Duration::from_secs(60), 1, Duration::from_secs(1));
    let scheduler = Scheduler::start(vec![job.clone(), idle.clone()]);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let status = &scheduler.status()[0];
    assert!(status.running);
    assert_eq!(
        status.progress,
        Some(Progress {
            done: 3,
            total: Some(10)
        })
    );
    scheduler.shutdown().await;
    // The step under way finishes; no other starts.
    assert_eq!(t0.elapsed(), Duration::from_secs(4));
    let status = &scheduler.status()[0];
    assert!(!status.running);
    assert!(
        matches!(&status.last_outcome, Some(Outcome::Done(r)) if r.n_items == 4),
        "{status:?}"
    );
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(job.starts_since(t0), vec![0]);
    assert_eq!(idle.starts_since(t0), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn run_once_runs_a_job_to_completion_now() {
    let job = Steps::new(Duration::from_secs(3600), 3, Duration::from_secs(1));
    let report = run_once(job.as_ref()).await.unwrap();
    assert_eq!(report.n_items, 3);
    assert_eq!(job.starts.lock().len(), 1);
}

/// Two nodes on one database: a once-per-cluster job runs on the node that took its lease and
/// is skipped on the other; a job about the node itself runs on both. (Real time, not paused:
/// the store's writer is a thread. Each job runs at start, and its next run is a minute away.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_job_runs_on_one_node_and_a_node_job_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db"), Options::default()).unwrap());
    let minute = Duration::from_secs(60);
    let step = Duration::from_millis(1);
    let cluster_job = || {
        Arc::new(Steps {
            cluster: true,
            ..Arc::into_inner(Steps::new(minute, 1, step)).unwrap()
        })
    };
    let (on_a, on_b) = (cluster_job(), cluster_job());
    let (local_a, local_b) = (Steps::new(minute, 1, step), Steps::new(minute, 1, step));
    let a = Scheduler::start_with_leases(
        vec![on_a.clone(), local_a.clone()],
        Leases::new(store.clone(), "node-a"),
    );
    let settled = |s: &Scheduler| {
        s.status()
            .iter()
            .all(|j| !j.running && j.n_runs + j.n_skipped == 1)
    };
    let wait = |s: &Scheduler| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !settled(s) {
            assert!(std::time::Instant::now() < deadline, "{:?}", s.status());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait(&a);
    // Node b starts while node a holds the lease.
    let b = Scheduler::start_with_leases(
        vec![on_b.clone(), local_b.clone()],
        Leases::new(store.clone(), "node-b"),
    );
    wait(&b);
    let (sa, sb) = (a.status(), b.status());
    assert_eq!((sa[0].n_runs, sa[0].n_skipped), (1, 0), "{sa:?}");
    assert_eq!((sb[0].n_runs, sb[0].n_skipped), (0, 1), "{sb:?}");
    assert_eq!(on_a.starts.lock().len(), 1);
    assert!(on_b.starts.lock().is_empty());
    // The node's own job ran on both.
    assert_eq!((sa[1].n_runs, sb[1].n_runs), (1, 1));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn run_now_starts_a_run_beside_the_schedule_once_at_a_time() {
    let t0 = Instant::now();
    let job = Steps::new(Duration::from_secs(100), 5, Duration::from_secs(1));
    let scheduler = Scheduler::start(vec![job.clone()]);
    // The scheduled run at start takes 5 s; a run by hand meanwhile is refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!scheduler.run_now("steps").unwrap());
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(scheduler.run_now("steps").unwrap());
    assert!(scheduler.job_status("steps").unwrap().running);
    assert!(!scheduler.run_now("steps").unwrap());
    assert!(scheduler.run_now("nothing").is_err());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(job.starts_since(t0), vec![0, 10]);
    let status = scheduler.job_status("steps").unwrap();
    assert_eq!(status.n_runs, 2);
    assert!(!status.running);
    assert_eq!(
        status.last_outcome,
        Some(Outcome::Done(JobReport {
            n_items: 5,
            summary: "5 step(s)".into()
        }))
    );
    scheduler.shutdown().await;
}
