//! Message ids: which are in use (a bitmap of all 65,535), and the order they are handed out in.

/// The message ids from `first` on, in the order `next_mid` hands them out: 65,535 is followed by 1.
pub(crate) fn mids_from(first: u16) -> impl Iterator<Item = u16> {
    std::iter::successors(Some(first), |&m| {
        Some(if m == u16::MAX { 1 } else { m + 1 })
    })
}

/// The id `steps` after `first` in that order (ids run 1..=65,535).
pub(super) fn mid_after(first: u16, steps: u16) -> u16 {
    let zero_based = (u32::from(first.max(1)) - 1 + u32::from(steps)) % u32::from(u16::MAX);
    // In range: the remainder is below 65,535.
    (zero_based + 1) as u16
}

/// Which message ids are in use: 65,536 bits.
#[derive(Debug)]
pub(super) struct MidSet(Box<[u64; 1024]>);

impl MidSet {
    pub(super) fn new() -> Self {
        MidSet(Box::new([0; 1024]))
    }
    pub(super) fn contains(&self, mid: u16) -> bool {
        self.0[usize::from(mid >> 6)] & (1 << (mid & 63)) != 0
    }
    pub(super) fn insert(&mut self, mid: u16) {
        self.0[usize::from(mid >> 6)] |= 1 << (mid & 63);
    }
    pub(super) fn remove(&mut self, mid: u16) {
        self.0[usize::from(mid >> 6)] &= !(1 << (mid & 63));
    }
}
