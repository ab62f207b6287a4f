//! JSON-RPC batches answered concurrently.
//!
//! jsonrpsee runs the calls of a batch one after another. A submission answers only once its
//! transaction is fsynced, so a batch of 100 `ordo_sendTransaction` calls waited for 100
//! journal commits in a row (~170 ms under load) instead of sharing one. This layer runs the
//! calls of a batch together and answers in request order.
//!
//! Arrival order is kept: each call's future is first polled in request order, and a
//! submission takes its place in the mempool on that first poll (before its first `.await`),
//! so a batch of one sender's nonces enters its rollup's lane in the order sent.

use futures::future::join_all;
use jsonrpsee::server::{
    middleware::rpc::{Batch, BatchEntry, RpcServiceT},
    BatchResponseBuilder, MethodResponse,
};
use std::future::Future;

/// Wraps the RPC service so that [`RpcServiceT::batch`] runs its calls concurrently.
#[derive(Clone, Debug)]
pub(crate) struct ConcurrentBatchLayer {
    /// The server's response limit, which the whole batch answer must respect.
    pub max_response_bytes: u32,
}

impl<S> tower::Layer<S> for ConcurrentBatchLayer {
    type Service = ConcurrentBatch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrentBatch {
            inner,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ConcurrentBatch<S> {
    inner: S,
    max_response_bytes: u32,
}

impl<S> RpcServiceT for ConcurrentBatch<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            NotificationResponse = MethodResponse,
            BatchResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(
        &self,
        request: jsonrpsee::types::Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        self.inner.call(request)
    }

    fn notification<'a>(
        &self,
        n: jsonrpsee::core::middleware::Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let service = self.inner.clone();
        let limit = self.max_response_bytes as usize;
        async move {
            // `None`: a notification, which gets no answer.
            let answers = join_all(batch.into_iter().map(|entry| {
                let service = service.clone();
                async move {
                    match entry {
                        Ok(BatchEntry::Call(request)) => Some(service.call(request).await),
                        Ok(BatchEntry::Notification(n)) => {
                            service.notification(n).await;
                            None
                        }
                        Err(e) => {
                            let (error, id) = e.into_parts();
                            Some(MethodResponse::error(id, error))
                        }
                    }
                }
            }))
            .await;
            let notified = answers.iter().any(Option::is_none);
            let mut response = BatchResponseBuilder::new_with_limit(limit);
            for answer in answers.into_iter().flatten() {
                if let Err(too_big) = response.append(answer) {
                    return too_big;
                }
            }
            if response.is_empty() && notified {
                MethodResponse::notification()
            } else {
                // An empty batch is an invalid request; the builder answers so.
                MethodResponse::from_batch(response.finish())
            }
        }
    }
}
