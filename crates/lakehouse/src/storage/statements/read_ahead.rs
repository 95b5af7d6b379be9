//! Read-ahead: a producer of batches run on a task of its own, a few batches ahead of its
//! consumer, so that reading and decoding use one core while the consumer encodes or formats on
//! another.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Result;

/// Batches ready ahead of the consumer. Four rather than two, so that the cores idle less while
/// a merge waits on its slowest column encoder; each extra batch costs its rows' memory.
const DEPTH: usize = 4;

/// A producer of batches, `None` at the end.
pub trait Batches: Send + 'static {
    type Item: Send + 'static;

    /// The next batch.
    fn next_item(&mut self) -> impl Future<Output = Result<Option<Self::Item>>> + Send;
}

/// A producer of batches running on its own task, up to four batches ahead of the consumer.
/// Dropping it stops the task.
pub struct ReadAhead<T> {
    items: mpsc::Receiver<Result<T>>,
    task: JoinHandle<()>,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts `source` on a task of its own.
    pub fn spawn<S: Batches<Item = T>>(mut source: S) -> ReadAhead<T> {
        let (sender, items) = mpsc::channel(DEPTH);
        let task = tokio::spawn(async move {
            loop {
                let Some(next) = source.next_item().await.transpose() else {
                    return;
                };
                let failed = next.is_err();
                if sender.send(next).await.is_err() || failed {
                    return;
                }
            }
        });
        ReadAhead { items, task }
    }

    /// The next batch, `None` at the end.
    ///
    /// # Errors
    /// The producer's errors, in order (it stops at the first).
    pub async fn next(&mut self) -> Result<Option<T>> {
        self.items.recv().await.transpose()
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
