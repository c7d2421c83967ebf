//! One decision in one transaction, written once for both backends: what a
//! backend's transaction can load and write ([`Transaction`]), and [`run`],
//! which loads a command's [`Needs`] in dependency order, decides, and
//! applies the writes.
//!
//! The SQLite backend is synchronous (its writer thread owns the
//! connection): its [`Transaction`] methods never wait, so its writer drives
//! [`run`] to completion with a single poll ([`complete_now`]).
//! PostgreSQL's wait on the network and run on tokio.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use skyline_protocol::methods::ToggleValue;

use super::{Decider, StoreError};
use crate::domain::{
    AdminToken, DeviceBinding, DeviceSelector, License, Needs, Plan, Product, Release, Snapshot,
    ToggleScope, ToggleTarget, Write,
};
use crate::license_index::LicenseDigest;

/// What a backend's open transaction loads and writes for a decision.
pub(crate) trait Transaction {
    /// A product by id; locked until the transaction ends when `lock`.
    fn product(
        &mut self,
        id: &str,
        lock: bool,
    ) -> impl Future<Output = Result<Option<Product>, StoreError>>;

    /// Every release of a product, oldest first.
    fn releases(
        &mut self,
        product_id: &str,
    ) -> impl Future<Output = Result<Vec<Release>, StoreError>>;

    /// A plan by id.
    fn plan(&mut self, id: &str) -> impl Future<Output = Result<Option<Plan>, StoreError>>;

    /// A license by digest, with its plan; locked until the transaction ends.
    fn license(
        &mut self,
        digest: &LicenseDigest,
    ) -> impl Future<Output = Result<Option<License>, StoreError>>;

    /// The selected devices of a license, oldest first.
    fn devices(
        &mut self,
        license_id: i64,
        which: &DeviceSelector,
    ) -> impl Future<Output = Result<Vec<DeviceBinding>, StoreError>>;

    /// One toggle value at one layer of a product.
    fn toggle(
        &mut self,
        product_id: &str,
        target: &ToggleTarget,
        name: &str,
    ) -> impl Future<Output = Result<Option<ToggleValue>, StoreError>>;

    /// An admin token by id.
    fn admin_token(
        &mut self,
        id: &str,
    ) -> impl Future<Output = Result<Option<AdminToken>, StoreError>>;

    /// Applies one write.
    fn apply(&mut self, write: &Write) -> impl Future<Output = Result<(), StoreError>>;
}

/// Loads what `needs` names, runs `decide`, applies its writes in order.
/// The caller owns the transaction: it commits after `Ok` and rolls back
/// otherwise.
pub(crate) async fn run<T: Transaction>(
    tx: &mut T,
    needs: &Needs,
    decide: &Decider,
) -> Result<(), StoreError> {
    let seen = load(tx, needs).await?;
    let writes = decide(&seen)?;
    for write in &writes {
        tx.apply(write).await?;
    }
    Ok(())
}

/// The snapshot of `needs`: the license before its devices, the toggle's
/// layer resolved from what was loaded.
async fn load<T: Transaction>(tx: &mut T, needs: &Needs) -> Result<Snapshot, StoreError> {
    let mut seen = Snapshot::default();
    if let Some(id) = &needs.product {
        seen.product = tx.product(id, needs.lock_product).await?;
        if needs.releases && seen.product.is_some() {
            seen.releases = tx.releases(id).await?;
        }
    }
    if let Some(id) = &needs.plan {
        seen.plan = tx.plan(id).await?;
    }
    if let Some(digest) = &needs.license {
        seen.license = tx.license(digest).await?;
    }
    if let (Some(license), Some(which)) = (&seen.license, &needs.devices) {
        seen.devices = tx.devices(license.id, which).await?;
    }
    if let (Some(product), Some((scope, name))) = (&seen.product, &needs.toggle) {
        let target = match scope {
            ToggleScope::Product => Some(ToggleTarget::Product),
            ToggleScope::Plan(_) => seen.plan.as_ref().map(|p| ToggleTarget::Plan(p.id.clone())),
            ToggleScope::License(_) => seen.license.as_ref().map(|l| ToggleTarget::License(l.id)),
        };
        if let Some(target) = target {
            seen.toggle = tx.toggle(&product.id, &target, name).await?;
        }
    }
    if let Some(id) = &needs.admin_token {
        seen.admin_token = tx.admin_token(id).await?;
    }
    Ok(seen)
}

/// Runs a future that never waits (a synchronous backend's [`run`]) to its
/// end on the calling thread.
pub(crate) fn complete_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a synchronous transaction waited"),
    }
}
