//! Names kept once. Ids and outlets repeat across millions of articles, so the online
//! detector and the batch scan store each id once, in its own record, and each outlet
//! once, by a dense index. [`NameIndex`] finds a record by a name the record itself
//! holds: a 4-byte slot per entry instead of a second copy of the name. [`Interner`]
//! gives each distinct name (an outlet) a dense `u32`.

use gxhash::gxhash64;
use hashbrown::HashTable;

/// The hash both tables key names by.
pub(crate) fn name_hash(name: &str) -> u64 {
    gxhash64(name.as_bytes(), NAME_SEED)
}

const NAME_SEED: i64 = 0x6e61_6d65; // "name"

/// Record slots by the hash of a name that each record holds itself. Every method takes
/// `name_of`, which reads the name of a slot from where the records are kept (it may
/// answer `None` for a slot no longer in use).
#[derive(Debug, Default, Clone)]
pub(crate) struct NameIndex(HashTable<u32>);

impl NameIndex {
    /// The slot whose record is named `name`.
    pub(crate) fn find<'n>(
        &self,
        name: &str,
        name_of: impl Fn(u32) -> Option<&'n str>,
    ) -> Option<u32> {
        self.0.find(name_hash(name), |&slot| name_of(slot) == Some(name)).copied()
    }

    /// Adds `slot`, whose record is named `name` (not present yet).
    pub(crate) fn insert<'n>(
        &mut self,
        name: &str,
        slot: u32,
        name_of: impl Fn(u32) -> Option<&'n str>,
    ) {
        let rehash = |&slot: &u32| name_of(slot).map_or(0, name_hash);
        self.0.insert_unique(name_hash(name), slot, rehash);
    }

    /// Removes and returns the slot whose record is named `name` (the record must still
    /// hold the name).
    pub(crate) fn take<'n>(
        &mut self,
        name: &str,
        name_of: impl Fn(u32) -> Option<&'n str>,
    ) -> Option<u32> {
        let found = self.0.find_entry(name_hash(name), |&slot| name_of(slot) == Some(name));
        found.ok().map(|found| found.remove().0)
    }

    /// Removes `slot`, indexed under `name`, even where another slot has the same name.
    pub(crate) fn remove(&mut self, name: &str, slot: u32) {
        if let Ok(found) = self.0.find_entry(name_hash(name), |&other| other == slot) {
            found.remove();
        }
    }

    /// Slots indexed.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Makes room for `additional` more slots.
    pub(crate) fn reserve<'n>(
        &mut self,
        additional: usize,
        name_of: impl Fn(u32) -> Option<&'n str>,
    ) {
        self.0.reserve(additional, |&slot| name_of(slot).map_or(0, name_hash));
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

/// Distinct names, each stored once and numbered densely in order of first sight.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    names: Vec<Box<str>>,
    index: NameIndex,
}

impl Interner {
    /// The number of `name`, adding it if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        let names = &self.names;
        if let Some(ix) = self.index.find(name, |ix| names.get(ix as usize).map(|n| &**n)) {
            return ix;
        }
        let ix = self.names.len() as u32;
        self.names.push(name.into());
        let names = &self.names;
        self.index.insert(name, ix, |ix| names.get(ix as usize).map(|n| &**n));
        ix
    }

    /// The number of `name`, if it was ever interned.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        let names = &self.names;
        self.index.find(name, |ix| names.get(ix as usize).map(|n| &**n))
    }

    /// The name numbered `ix`.
    pub(crate) fn get(&self, ix: u32) -> &str {
        &self.names[ix as usize]
    }

    /// Approximate heap bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.names.iter().map(|n| n.len() + 16).sum::<usize>() + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_numbers_each_name_once() {
        let mut names = Interner::default();
        assert_eq!(names.intern("Reuters"), 0);
        assert_eq!(names.intern("AP"), 1);
        assert_eq!(names.intern("Reuters"), 0);
        assert_eq!((names.get(0), names.get(1)), ("Reuters", "AP"));
    }

    #[test]
    fn name_index_finds_records_by_their_own_names() {
        let mut records: Vec<Option<&str>> = Vec::new();
        let mut index = NameIndex::default();
        for (slot, id) in ["a", "b", "c"].into_iter().enumerate() {
            records.push(Some(id));
            let records = &records;
            index.insert(id, slot as u32, |s| records[s as usize]);
        }
        let name_of = |s: u32| records[s as usize];
        assert_eq!(index.find("b", name_of), Some(1));
        assert_eq!(index.find("d", name_of), None);
        assert_eq!(index.take("a", name_of), Some(0));
        assert_eq!(index.find("a", name_of), None);
        index.remove("c", 2);
        assert_eq!((index.find("c", name_of), index.len()), (None, 1));
    }
}
