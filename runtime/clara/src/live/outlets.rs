//! Where replies of pipelines run by tasks and hooks go: each running adapter registers an
//! outlet under its name (`chat`, `discord`), and a `deliver = { adapter = … }` posts there.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use clara_config::model::hook::Delivery;
use clara_core::llm::BoxFuture;

/// An adapter's way to post a message unprompted.
pub trait Outlet: Send + Sync {
    /// Posts `text` to a channel or, with `user`, as a direct message; with `mention` (a user
    /// id), so that it notifies that user where the platform can.
    fn post<'a>(
        &'a self,
        to: &'a Delivery,
        text: &'a str,
        mention: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The outlets of the running adapters.
#[derive(Default)]
pub struct Outlets(RwLock<BTreeMap<String, Arc<dyn Outlet>>>);

impl Outlets {
    /// Makes `adapter`'s outlet available (replacing an earlier one).
    pub fn register(&self, adapter: &str, outlet: Arc<dyn Outlet>) {
        self.0
            .write()
            .expect("no panics while held")
            .insert(adapter.to_owned(), outlet);
    }

    /// Removes `adapter`'s outlet (the adapter stopped).
    pub fn remove(&self, adapter: &str) {
        self.0
            .write()
            .expect("no panics while held")
            .remove(adapter);
    }

    /// Posts `text` where `to` says, notifying `mention` where the platform can.
    pub async fn post(
        &self,
        to: &Delivery,
        text: &str,
        mention: Option<&str>,
    ) -> Result<(), String> {
        let outlet = self
            .0
            .read()
            .expect("no panics while held")
            .get(&to.adapter)
            .cloned()
            .ok_or_else(|| format!("the `{}` adapter is not running here", to.adapter))?;
        outlet.post(to, text, mention).await
    }
}
