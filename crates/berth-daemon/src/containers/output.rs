//! A container's (or an exec's) output, fanned out to the clients reading it at the pace
//! of the slowest one, as moby does: a reader that falls behind holds the relay back, the
//! relay stops reading the monitor, the monitor stops reading the process's pipe, and the
//! process waits on its writes. Nothing is skipped. `logs --follow` reads the log file and
//! only wants to know that there is more ([`OutputHub::watch`]), so it holds nothing back.

use super::{Output, OUTPUT_BUFFER};
use std::sync::Mutex;
use tokio::sync::{mpsc, watch};

/// Where a container's output goes.
pub struct OutputHub {
    readers: Mutex<Vec<mpsc::Sender<Output>>>,
    /// Counts what went by, for those who read the log file instead.
    seen: watch::Sender<u64>,
}

/// One reader's queue: everything sent after it subscribed, in order.
pub struct OutputReader(mpsc::Receiver<Output>);

impl OutputReader {
    /// The next piece of output; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<Output> {
        self.0.recv().await
    }
}

impl Default for OutputHub {
    fn default() -> Self {
        OutputHub {
            readers: Mutex::new(Vec::new()),
            seen: watch::channel(0).0,
        }
    }
}

impl OutputHub {
    fn readers(&self) -> Vec<mpsc::Sender<Output>> {
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A reader that gets everything from now on; the hub waits for it (drop it to leave).
    pub fn subscribe(&self) -> OutputReader {
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        OutputReader(rx)
    }

    /// Changes whenever output went by; never holds the hub back.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.seen.subscribe()
    }

    /// Hands `out` to every reader, waiting for room in each queue.
    pub async fn send(&self, out: Output) {
        let mut gone = false;
        for r in self.readers() {
            gone |= r.send(out.clone()).await.is_err();
        }
        if gone {
            self.forget_closed();
        }
        self.seen.send_modify(|n| *n += 1);
    }

    /// Like [`OutputHub::send`] from code that cannot wait (the end of a failed start): a
    /// full queue gets `out` from a task of its own.
    pub fn send_now(&self, out: Output) {
        for r in self.readers() {
            match r.try_send(out.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(o)) => {
                    tokio::spawn(async move {
                        let _ = r.send(o).await;
                    });
                }
            }
        }
        self.forget_closed();
        self.seen.send_modify(|n| *n += 1);
    }

    fn forget_closed(&self) {
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| !r.is_closed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn a_slow_reader_gets_everything_and_holds_the_sender_back() {
        let hub = std::sync::Arc::new(OutputHub::default());
        let mut slow = hub.subscribe();
        let mut quick = hub.subscribe();
        let total = OUTPUT_BUFFER * 4;
        let sender = {
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..total {
                    hub.send(Output::Data(1, Bytes::from(i.to_string()))).await;
                }
                hub.send(Output::Exit(0)).await;
            })
        };
        // The slow reader has not read: the sender waits once its queue is full.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!sender.is_finished());
        let quick_reader = tokio::spawn(async move {
            let mut n = 0;
            while let Some(Output::Data(..)) = quick.recv().await {
                n += 1;
            }
            n
        });
        let mut n = 0;
        while let Some(o) = slow.recv().await {
            match o {
                Output::Data(_, b) => {
                    assert_eq!(b, Bytes::from(n.to_string()), "in order, none skipped");
                    n += 1;
                }
                Output::Exit(_) => break,
            }
        }
        assert_eq!(n, total);
        assert_eq!(quick_reader.await.unwrap(), total);
        sender.await.unwrap();
        // A reader that left does not hold anything back.
        drop(slow);
        hub.send(Output::Exit(1)).await;
    }
}
