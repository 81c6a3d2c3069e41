//! Counts the connection tasks still running, so that the server can wait
//! for them (with a bound) before it stops.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// The number of live connection tasks, and who waits for it to reach zero.
#[derive(Debug, Default)]
pub(crate) struct Live {
    count: Cell<usize>,
    waiter: RefCell<Option<Waker>>,
}

/// Held by one task for as long as it runs; dropping it counts the task out.
#[derive(Debug)]
pub(crate) struct LiveGuard(Rc<Live>);

impl Live {
    /// Counts one more task in.
    pub(crate) fn enter(self: &Rc<Self>) -> LiveGuard {
        self.count.set(self.count.get() + 1);
        LiveGuard(Rc::clone(self))
    }

    /// Completes when no task is counted.
    pub(crate) fn zero(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.count.get() == 0 {
                Poll::Ready(())
            } else {
                *self.waiter.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let count = self.0.count.get() - 1;
        self.0.count.set(count);
        if count == 0 {
            let waiter = self.0.waiter.borrow_mut().take();
            if let Some(waker) = waiter {
                waker.wake();
            }
        }
    }
}
