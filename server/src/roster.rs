//! Who is registered under which name, in join order: the registry that
//! lobby and direct both keep (channels and room keep more per user and
//! hold their own).

use std::collections::HashMap;
use std::sync::Arc;

use crate::conns::{ConnId, IdMap};

/// Registered connections and their names, in join order.
#[derive(Debug, Default)]
pub struct Roster {
    /// Join order: LIST answers in this order.
    order: Vec<ConnId>,
    names: IdMap<Arc<str>>,
    by_name: HashMap<Arc<str>, ConnId>,
}

impl Roster {
    /// How many are registered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// The name `id` is registered under.
    pub fn name(&self, id: ConnId) -> Option<Arc<str>> {
        self.names.get(&id).cloned()
    }

    /// The connection registered as `name`.
    pub fn id(&self, name: &str) -> Option<ConnId> {
        self.by_name.get(name).copied()
    }

    /// Registers `id` as `name` (the caller has checked that it is free).
    pub fn add(&mut self, id: ConnId, name: Arc<str>) {
        self.order.push(id);
        self.names.insert(id, name.clone());
        self.by_name.insert(name, id);
    }

    /// Forgets `id`'s registration; its name, if it had one.
    pub fn remove(&mut self, id: ConnId) -> Option<Arc<str>> {
        let name = self.names.remove(&id)?;
        self.by_name.remove(&name);
        self.order.retain(|&other| other != id);
        Some(name)
    }

    /// The registered connections in join order.
    pub fn ids(&self) -> &[ConnId] {
        &self.order
    }

    /// The registered names in join order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|id| &*self.names[id])
    }
}
