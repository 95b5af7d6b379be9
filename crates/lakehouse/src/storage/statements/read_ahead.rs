//! Read-ahead: a producer of batches run on a task of its own, a few batches ahead of its
//! consumer, so that reading and decoding use one core while the consumer encodes or formats on
//! another.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

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
    /// The producer, until it has been seen to end.
    task: Option<JoinHandle<()>>,
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
        ReadAhead { items, task: Some(task) }
    }

    /// The next batch, `None` at the end.
    ///
    /// # Errors
    /// The producer's errors, in order (it stops at the first); [`Error::Task`] when it
    /// panicked (an allocation failing in a C library under a memory cap, say): its batches
    /// stopping then is not the end of the data, and taking it for one would publish a partial
    /// export.
    pub async fn next(&mut self) -> Result<Option<T>> {
        match self.items.recv().await {
            Some(item) => item.map(Some),
            None => match self.task.take() {
                Some(task) => task.await.map(|()| None).map_err(Error::task("read-ahead")),
                None => Ok(None),
            },
        }
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two batches, then a panic where the third would be.
    struct Dies(u32);

    impl Batches for Dies {
        type Item = u32;

        async fn next_item(&mut self) -> Result<Option<u32>> {
            self.0 += 1;
            assert!(self.0 < 3, "the producer dies");
            Ok(Some(self.0))
        }
    }

    #[tokio::test]
    async fn a_producer_that_panics_is_an_error_not_the_end() {
        let mut batches = ReadAhead::spawn(Dies(0));
        assert_eq!(batches.next().await.unwrap(), Some(1));
        assert_eq!(batches.next().await.unwrap(), Some(2));
        let err = batches.next().await.unwrap_err();
        assert!(matches!(&err, Error::Task { task: "read-ahead", .. }), "{err}");
        assert_eq!(batches.next().await.unwrap(), None, "and nothing after");
    }
}
