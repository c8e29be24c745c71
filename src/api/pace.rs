//! Request bodies that must keep arriving (protocol §9, connections).
//!
//! The idle timeout alone lets a client hold a connection for ever by sending one byte just
//! before each idle period ends. A body therefore gets a deadline: [`BodyPace::initial`] to
//! start with, one more second for every [`BodyPace::min_rate`] bytes that arrive (the rule of
//! Apache's `mod_reqtimeout`: a fast phone never meets it, a trickle soon does), and never more
//! than [`BodyPace::max`] in all. The clock starts when the box begins to read the body, so a
//! request that waited unread for room in the body budget is not charged for the wait.
//!
//! A body that falls behind ends with an error; the server answers `408 request_timeout`
//! and closes the connection (see [`server`](super::server)).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    /// The time a body gets before its first bytes count.
    pub initial: Duration,
    /// Every this many bytes received earn the body one more second (at least 1).
    pub min_rate: u64,
    /// No body takes longer than this to read, however fast it has been.
    pub max: Duration,
}

impl BodyPace {
    /// The deadline of a body that began to be read at `start` and has brought `received`
    /// bytes so far.
    pub fn deadline(&self, start: Instant, received: u64) -> Instant {
        let earned = Duration::from_millis(received.saturating_mul(1000) / self.min_rate.max(1));
        start + self.initial.saturating_add(earned).min(self.max)
    }
}

/// The error a body ends with when it arrived too slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for TooSlow {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body held to a [`BodyPace`]. When it ends with [`TooSlow`] it also sets its flag, so the
/// server knows to answer `408` whatever the route made of the error.
#[derive(Debug)]
pub struct PacedBody<B> {
    inner: B,
    pace: BodyPace,
    /// When reading began and how many bytes have arrived since.
    progress: Option<(Instant, u64)>,
    timer: Pin<Box<Sleep>>,
    too_slow: Arc<AtomicBool>,
}

impl<B> PacedBody<B> {
    /// `inner` held to `pace`; `too_slow` is set if it falls behind.
    pub fn new(inner: B, pace: BodyPace, too_slow: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            pace,
            progress: None,
            // Set at the first read.
            timer: Box::pin(tokio::time::sleep(pace.initial)),
            too_slow,
        }
    }

    fn fail(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.too_slow.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(TooSlow))))
    }
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let (start, received) = match this.progress {
            Some(progress) => progress,
            None => {
                // The first read: the clock starts now, not when the request arrived.
                let start = Instant::now();
                this.progress = Some((start, 0));
                this.timer.as_mut().reset(this.pace.deadline(start, 0));
                (start, 0)
            }
        };
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let now = Instant::now();
                let received = received + frame.data_ref().map_or(0, |d| d.len() as u64);
                let deadline = this.pace.deadline(start, received);
                if now > deadline && !this.inner.is_end_stream() {
                    return this.fail();
                }
                this.progress = Some((start, received));
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => this.fail(),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt as _, StreamBody};

    const PACE: BodyPace = BodyPace {
        initial: Duration::from_secs(20),
        min_rate: 1000,
        max: Duration::from_secs(60),
    };

    #[test]
    fn every_min_rate_bytes_earn_a_second_up_to_the_most() {
        let start = Instant::now();
        assert_eq!(PACE.deadline(start, 0), start + Duration::from_secs(20));
        assert_eq!(
            PACE.deadline(start, 999),
            start + Duration::from_millis(20_999)
        );
        assert_eq!(
            PACE.deadline(start, 10_000),
            start + Duration::from_secs(30)
        );
        assert_eq!(
            PACE.deadline(start, 10_000_000),
            start + Duration::from_secs(60)
        );
        assert_eq!(
            PACE.deadline(start, u64::MAX),
            start + Duration::from_secs(60)
        );
        // A rate of 0 (refused by the configuration) counts as 1 byte a second, not a panic.
        let zero = BodyPace {
            min_rate: 0,
            ..PACE
        };
        assert_eq!(zero.deadline(start, 5), start + Duration::from_secs(25));
    }

    /// A body whose chunks come through a channel the test feeds.
    fn fed() -> (
        tokio::sync::mpsc::UnboundedSender<Bytes>,
        PacedBody<impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin>,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
        });
        let flag = Arc::new(AtomicBool::new(false));
        let body = PacedBody::new(StreamBody::new(Box::pin(stream)), PACE, flag.clone());
        (tx, body, flag)
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_once_it_falls_behind() {
        let (tx, mut body, flag) = fed();
        // One byte every 15 s: each comes within any idle timeout, but 20 s + 1 ms each.
        let feeder = tokio::spawn(async move {
            loop {
                if tx.send(Bytes::from_static(b"x")).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(15)).await;
            }
        });
        let start = Instant::now();
        let mut frames = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => frames += 1,
                Some(Err(e)) => break e,
                None => panic!("the body ended"),
            }
        };
        assert!(err.is::<TooSlow>(), "{err}");
        assert!(flag.load(Ordering::Acquire));
        assert_eq!(frames, 2, "bytes at 0 s and 15 s, cut off at 20 s");
        assert!(
            start.elapsed() < Duration::from_secs(21),
            "{:?}",
            start.elapsed()
        );
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_arriving_at_the_rate_is_read_whole() {
        let (tx, mut body, flag) = fed();
        let feeder = tokio::spawn(async move {
            // 2,000 bytes a second for 50 s: past the initial 20 s, within the 60 s.
            for _ in 0..50 {
                tx.send(Bytes::from(vec![0u8; 2000])).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            total += frame.unwrap().into_data().unwrap().len();
        }
        assert_eq!(total, 100_000);
        assert!(!flag.load(Ordering::Acquire));
        feeder.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn no_body_takes_longer_than_the_most() {
        let (tx, mut body, flag) = fed();
        let feeder = tokio::spawn(async move {
            // Fast enough for ever, but never done.
            while tx.send(Bytes::from(vec![0u8; 10_000])).is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let start = Instant::now();
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("the body ended"),
            }
        };
        assert!(err.is::<TooSlow>());
        assert!(flag.load(Ordering::Acquire));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(59) && took <= Duration::from_secs(61),
            "{took:?}"
        );
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_starts_at_the_first_read() {
        let (tx, mut body, flag) = fed();
        // The request waited 30 s unread (for the body budget): more than the initial 20 s.
        tokio::time::sleep(Duration::from_secs(30)).await;
        tx.send(Bytes::from_static(b"late but fine")).unwrap();
        drop(tx);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(
            frame.into_data().unwrap(),
            Bytes::from_static(b"late but fine")
        );
        assert!(body.frame().await.is_none());
        assert!(!flag.load(Ordering::Acquire));
    }
}
