//! The in-memory vector index behind SQLite memory search: per user and embedding model, one
//! signed byte per dimension (a quarter of the f32 size) scanned with SIMD, so a shortlist can
//! be rescored exactly from the database. Long lists are first narrowed by each vector's sign
//! bits, an eighth of the bytes again.
//!
//! Why quantised codes rather than a graph: no SQLite extension, no index build, updates are
//! a row overwrite. Up to 5,000 vectors every byte code is scanned, so recall does not depend
//! on the embedding model. Past that a full scan (154 MB at 100k, 27 ms on this machine) would
//! take the whole search budget, so sign bits keep a generous shortlist (at least 500, fifty
//! times the usual ten results) for the codes to rank; how well signs keep neighbours differs
//! between models, which the shortlist's size absorbs (recall@10 1.000 at 10k and 100k in the
//! `memory_search` bench).
//!
//! Lists load lazily on a user's first search and are kept current by the store's own writes.
//! Writes by another connection or process are noticed through the `memory_epoch` counter
//! that triggers bump on every change to `memories`: when it moved without this process
//! knowing why, every list is dropped and reloads on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use clara_core::store::StoreResult;
use clara_core::store::similarity::norm;
use sqlx::SqliteConnection;

use crate::store::db;
use crate::store::vector::{dot_i8, from_blob_into, hamming, quantize_into, sign_bits_into};
#[cfg(target_arch = "x86_64")]
use crate::store::vector::{dot_i8_avx2, hamming_avx512};

/// Lists longer than this are first narrowed by sign bits (192 bytes a vector at 1536
/// dimensions, against 1536 for the byte codes). Past a few thousand vectors the byte codes
/// outgrow the CPU caches and their scan is paced by memory: at 10k, narrowing first reads
/// under 3 MB instead of 15; at 100k, it was 4 ms against 27 when it kept 2,000. The scale
/// and memory_search benches find the same top 10 either way.
const SIGNS_FROM: usize = 5_000;
/// How many vectors the sign pass keeps for the byte codes to rank, per result wanted and at
/// least: generous, because signs alone rank coarsely. Keeping 500 (first 2,000, then 1,000)
/// left recall@10 at 1.000 in the memory_search bench at 10k and 100k (2026-12-04): the byte
/// codes of the kept vectors, read from all over a list bigger than the CPU's caches, were a
/// 10k turn's largest growing cost.
const SIGNS_KEEP_FACTOR: usize = 5;
const SIGNS_KEEP_MIN: usize = 500;

/// One user's memories embedded by one model.
#[derive(Debug, Default)]
pub(super) struct UserVectors {
    dims: usize,
    seqs: Vec<i64>,
    updated_at: Vec<i64>,
    projects: Vec<Option<Arc<str>>>,
    /// How many vectors each named project has, for sizing a scan before it runs.
    project_counts: HashMap<Arc<str>, usize>,
    /// Per memory, `scale / |v|`: turns an integer dot product into a cosine (up to the
    /// query's own constant factor, which does not change the order).
    factors: Vec<f32>,
    /// `seqs.len() * dims` codes, one memory after another.
    codes: Vec<i8>,
    /// Each vector's signs, [`UserVectors::words`] words each, for narrowing long lists.
    bits: Vec<u64>,
    positions: HashMap<i64, usize>,
}

impl UserVectors {
    /// Inserts or replaces a memory's vector. A vector whose length differs from the list's
    /// (a broken or foreign blob) is left out: shapes are never compared across lengths.
    fn upsert(&mut self, seq: i64, updated_at: i64, project: Option<Arc<str>>, vector: &[f32]) {
        if self.seqs.is_empty() && self.dims == 0 {
            self.dims = vector.len();
        }
        if vector.len() != self.dims || vector.is_empty() {
            self.remove(seq);
            return;
        }
        let length = norm(vector);
        let mut codes = Vec::with_capacity(self.dims);
        let scale = quantize_into(vector, &mut codes);
        let factor = if length > 0.0 { scale / length } else { 0.0 };
        let mut bits = Vec::with_capacity(self.words());
        sign_bits_into(vector, &mut bits);
        let words = self.words();
        match self.positions.get(&seq) {
            Some(&at) => {
                self.updated_at[at] = updated_at;
                self.count(self.projects[at].clone(), false);
                self.count(project.clone(), true);
                self.projects[at] = project;
                self.factors[at] = factor;
                self.codes[at * self.dims..(at + 1) * self.dims].copy_from_slice(&codes);
                self.bits[at * words..(at + 1) * words].copy_from_slice(&bits);
            }
            None => {
                self.positions.insert(seq, self.seqs.len());
                self.seqs.push(seq);
                self.updated_at.push(updated_at);
                self.count(project.clone(), true);
                self.projects.push(project);
                self.factors.push(factor);
                self.codes.extend_from_slice(&codes);
                self.bits.extend_from_slice(&bits);
            }
        }
    }

    /// Removes a memory's vector, if present (the last entry moves into its slot).
    fn remove(&mut self, seq: i64) {
        let Some(at) = self.positions.remove(&seq) else {
            return;
        };
        let last = self.seqs.len() - 1;
        self.seqs.swap_remove(at);
        self.updated_at.swap_remove(at);
        let project = self.projects.swap_remove(at);
        self.count(project, false);
        self.factors.swap_remove(at);
        let words = self.words();
        if at != last {
            let (dims, from) = (self.dims, last * self.dims);
            self.codes.copy_within(from..from + dims, at * dims);
            self.bits
                .copy_within(last * words..(last + 1) * words, at * words);
            self.positions.insert(self.seqs[at], at);
        }
        self.codes.truncate(last * self.dims);
        self.bits.truncate(last * words);
    }

    /// How many vectors `project` has (every one for `None`).
    fn vectors_in(&self, project: Option<&str>) -> usize {
        project.map_or(self.seqs.len(), |project| {
            self.project_counts.get(project).copied().unwrap_or(0)
        })
    }

    /// Counts a vector into or out of its project.
    fn count(&mut self, project: Option<Arc<str>>, into: bool) {
        let Some(project) = project else {
            return;
        };
        if into {
            *self.project_counts.entry(project).or_default() += 1;
            return;
        }
        if let Some(count) = self.project_counts.get_mut(&project) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.project_counts.remove(&project);
            }
        }
    }

    /// Words of sign bits per vector.
    fn words(&self) -> usize {
        self.dims.div_ceil(64)
    }

    /// How many bytes a scan for `scopes` reads: every vector's sign bits and the codes of
    /// each scope's keep (at most its project's vectors) when the list is long, every code
    /// otherwise.
    pub(super) fn scan_bytes(&self, scopes: &[(Option<&str>, usize)]) -> usize {
        if self.seqs.len() <= SIGNS_FROM {
            return self.codes.len();
        }
        let kept: usize = scopes
            .iter()
            .map(|&(project, k)| signs_keep(k).min(self.vectors_in(project)))
            .sum();
        self.bits.len() * 8 + kept.min(self.seqs.len()) * self.dims
    }

    /// The `k` memories (of `project`, when set) most similar to `query` by their codes,
    /// most similar first, as `(seq, updated_at)`. Empty when the query's length differs
    /// from the list's.
    #[cfg(test)]
    pub(super) fn shortlist(
        &self,
        query: &[f32],
        project: Option<&str>,
        k: usize,
    ) -> Vec<(i64, i64)> {
        self.shortlists(query, &[(project, k)]).swap_remove(0)
    }

    /// [`UserVectors::shortlist`] for each `(project, k)` at once: the sign pass and each
    /// memory's code score are computed once however many shortlists want them.
    pub(super) fn shortlists(
        &self,
        query: &[f32],
        scopes: &[(Option<&str>, usize)],
    ) -> Vec<Vec<(i64, i64)>> {
        if query.len() != self.dims || self.seqs.is_empty() {
            return vec![Vec::new(); scopes.len()];
        }
        let mut query_codes = Vec::with_capacity(self.dims);
        quantize_into(query, &mut query_codes);
        let in_project = |at: usize, project: Option<&str>| {
            project.is_none_or(|wanted| self.projects[at].as_deref() == Some(wanted))
        };
        // Each shortlist's candidates, as positions in the list.
        let candidates: Vec<Vec<usize>> = if self.seqs.len() > SIGNS_FROM {
            let distances = self.sign_distances(query);
            scopes
                .iter()
                .map(|&(project, k)| {
                    if self.vectors_in(project) == 0 {
                        return Vec::new();
                    }
                    nearest(&distances, self.dims, signs_keep(k), |at| {
                        in_project(at, project)
                    })
                })
                .collect()
        } else {
            scopes
                .iter()
                .map(|&(project, _)| {
                    (0..self.seqs.len())
                        .filter(|&at| in_project(at, project))
                        .collect()
                })
                .collect()
        };
        // Scored once each, where the shortlists overlap.
        let shared = if scopes.len() > 1 { self.seqs.len() } else { 0 };
        let mut scores = vec![f32::NAN; shared];
        // Ties go to the earlier position, so a shortlist is the same alone or among others.
        let best_first =
            |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        candidates
            .into_iter()
            .zip(scopes)
            .map(|(ats, &(_, k))| {
                if k == 0 {
                    return Vec::new();
                }
                let mut scored = Vec::with_capacity(ats.len());
                if scores.is_empty() {
                    self.score(&query_codes, &ats, &mut scored);
                } else {
                    let fresh: Vec<usize> = ats
                        .iter()
                        .copied()
                        .filter(|&at| scores[at].is_nan())
                        .collect();
                    self.score(&query_codes, &fresh, &mut scored);
                    for &(score, at) in &scored {
                        scores[at] = score;
                    }
                    scored.clear();
                    scored.extend(ats.into_iter().map(|at| (scores[at], at)));
                }
                if scored.len() > k {
                    scored.select_nth_unstable_by(k - 1, best_first);
                    scored.truncate(k);
                }
                scored.sort_unstable_by(best_first);
                scored
                    .into_iter()
                    .map(|(_, at)| (self.seqs[at], self.updated_at[at]))
                    .collect()
            })
            .collect()
    }

    /// How many signs of each vector differ from `query`'s, with the CPU's population
    /// count where it has one: eight words at once with AVX-512, else one at a time, where
    /// the size-optimised build would otherwise count bits in a dozen plain instructions.
    #[allow(unsafe_code)]
    fn sign_distances(&self, query: &[f32]) -> Vec<u32> {
        let mut bits = Vec::with_capacity(self.words());
        sign_bits_into(query, &mut bits);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512vpopcntdq") {
                // SAFETY: the CPU was just checked for both features the function enables.
                return unsafe { self.sign_distances_avx512(&bits) };
            }
            if has!("popcnt") {
                // SAFETY: the CPU was just checked for POPCNT, the only feature enabled.
                return unsafe { self.sign_distances_popcnt(&bits) };
            }
        }
        self.sign_distances_with(&bits, hamming)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn sign_distances_avx512(&self, query: &[u64]) -> Vec<u32> {
        // A closure: calling a target-feature function is safe only where the feature is on.
        self.sign_distances_with(query, |a, b| hamming_avx512(a, b))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn sign_distances_popcnt(&self, query: &[u64]) -> Vec<u32> {
        self.sign_distances_with(query, hamming)
    }

    /// A plain loop, as in [`hamming`]: an adapter's out-of-line `fold` would count bits
    /// without the caller's features.
    #[inline(always)]
    fn sign_distances_with(
        &self,
        query: &[u64],
        hamming: impl Fn(&[u64], &[u64]) -> u32,
    ) -> Vec<u32> {
        let words = self.words();
        let mut distances = Vec::with_capacity(self.seqs.len());
        for at in 0..self.seqs.len() {
            distances.push(hamming(&self.bits[at * words..(at + 1) * words], query));
        }
        distances
    }

    // A marked unsafe site: the AVX2 scan, called only once the CPU is known to have it.
    #[allow(unsafe_code)]
    fn score(&self, query: &[i8], ats: &[usize], out: &mut Vec<(f32, usize)>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked for AVX2, the only feature the function enables.
            unsafe { self.score_avx2(query, ats, out) };
            return;
        }
        self.score_with(query, ats, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn score_avx2(&self, query: &[i8], ats: &[usize], out: &mut Vec<(f32, usize)>) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // The next vector's codes are fetched while this one is scored: a shortlist's
        // vectors lie apart in a list bigger than the CPU's caches, and the scan otherwise
        // waits on memory.
        let dims = self.dims;
        for (i, &at) in ats.iter().enumerate() {
            if let Some(&next) = ats.get(i + 1) {
                let codes = self.codes[next * dims..(next + 1) * dims].as_ptr();
                let mut line = 0;
                while line < dims {
                    _mm_prefetch::<_MM_HINT_T0>(codes.wrapping_add(line));
                    line += 64;
                }
            }
            let codes = &self.codes[at * dims..(at + 1) * dims];
            out.push((dot_i8_avx2(codes, query) as f32 * self.factors[at], at));
        }
    }

    fn score_with(&self, query: &[i8], ats: &[usize], out: &mut Vec<(f32, usize)>) {
        for &at in ats {
            let codes = &self.codes[at * self.dims..(at + 1) * self.dims];
            out.push((dot_i8(codes, query) as f32 * self.factors[at], at));
        }
    }
}

/// How many vectors the sign pass keeps for a shortlist of `k`.
fn signs_keep(k: usize) -> usize {
    (k * SIGNS_KEEP_FACTOR).max(SIGNS_KEEP_MIN)
}

/// The positions (in `accept`) with the `keep` smallest `distances`, ties to the earlier
/// position, in position order. Distances are at most `dims`, so counting how many fall at
/// each finds the cut-off in two passes, where sorting 10k pairs cost more than the scan.
fn nearest(
    distances: &[u32],
    dims: usize,
    keep: usize,
    accept: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut at_distance = vec![0usize; dims + 1];
    for (at, &distance) in distances.iter().enumerate() {
        if accept(at) {
            at_distance[(distance as usize).min(dims)] += 1;
        }
    }
    // The smallest distance whose count brings the total to `keep`, and how many at it fit;
    // past every distance when fewer than `keep` are accepted at all.
    let (mut cut, mut room) = (dims + 1, keep);
    for (distance, &count) in at_distance.iter().enumerate() {
        if count >= room {
            cut = distance;
            break;
        }
        room -= count;
    }
    let mut kept = Vec::with_capacity(keep.min(distances.len()));
    for (at, &distance) in distances.iter().enumerate() {
        let distance = (distance as usize).min(dims);
        if distance > cut || !accept(at) {
            continue;
        }
        if distance == cut {
            if room == 0 {
                continue;
            }
            room -= 1;
        }
        kept.push(at);
    }
    kept
}

/// A change this process made to one memory, for keeping cached lists current.
pub(super) enum Change {
    /// The memory now has these values (its vector, if any, from `model`).
    Stored {
        seq: i64,
        updated_at: i64,
        user: String,
        project: Option<String>,
        model: Option<String>,
        embedding: Option<Vec<u8>>,
    },
    /// The memory is gone.
    Removed { seq: i64, user: String },
}

/// Every cached list, and the `memory_epoch` value they reflect.
#[derive(Debug, Default)]
pub(super) struct VectorIndex {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    epoch: Option<i64>,
    lists: HashMap<(String, String), Arc<RwLock<UserVectors>>>,
}

/// Reads the epoch counter on `conn`.
pub(super) async fn read_epoch(conn: &mut SqliteConnection) -> StoreResult<i64> {
    let (epoch,): (i64,) = sqlx::query_as("SELECT n FROM memory_epoch WHERE id = 1")
        .fetch_one(conn)
        .await
        .map_err(db)?;
    Ok(epoch)
}

impl VectorIndex {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current list of `user`'s vectors from `model`, loading it when it is not cached or
    /// memories changed elsewhere since it was.
    pub(super) async fn list(
        &self,
        conn: &mut SqliteConnection,
        user: &str,
        model: &str,
    ) -> StoreResult<Arc<RwLock<UserVectors>>> {
        let epoch = read_epoch(conn).await?;
        {
            let mut state = self.state();
            if state.epoch != Some(epoch) {
                state.lists.clear();
                state.epoch = Some(epoch);
            }
            if let Some(list) = state.lists.get(&(user.to_owned(), model.to_owned())) {
                return Ok(Arc::clone(list));
            }
        }
        let list = Arc::new(RwLock::new(load(conn, user, model).await?));
        let mut state = self.state();
        // Cache it only if nothing moved the epoch meanwhile; otherwise it may be stale
        // already, and the next search loads again.
        if state.epoch == Some(epoch) {
            state
                .lists
                .insert((user.to_owned(), model.to_owned()), Arc::clone(&list));
        }
        Ok(list)
    }

    /// Applies a change this process committed, which moved the epoch to `epoch_after`.
    /// When the cache did not reflect the epoch just before it, something else changed
    /// memories too, and everything is dropped.
    pub(super) fn apply(&self, epoch_after: i64, change: Change) {
        let mut state = self.state();
        if state.epoch != Some(epoch_after - 1) {
            state.lists.clear();
            state.epoch = None;
            return;
        }
        state.epoch = Some(epoch_after);
        let (seq, user, stored) = match change {
            Change::Stored {
                seq,
                updated_at,
                user,
                project,
                model,
                embedding,
            } => (
                seq,
                user,
                model.zip(embedding).map(|m| (updated_at, project, m)),
            ),
            Change::Removed { seq, user } => (seq, user, None),
        };
        for ((list_user, _), list) in &state.lists {
            if *list_user == user {
                write(list).remove(seq);
            }
        }
        if let Some((updated_at, project, (model, blob))) = stored
            && let Some(list) = state.lists.get(&(user, model))
        {
            let mut vector = Vec::new();
            from_blob_into(&blob, &mut vector);
            write(list).upsert(seq, updated_at, project.map(Arc::from), &vector);
        }
    }
}

fn write(list: &RwLock<UserVectors>) -> std::sync::RwLockWriteGuard<'_, UserVectors> {
    list.write().unwrap_or_else(PoisonError::into_inner)
}

/// Reads a user's vectors from `model` out of the database.
async fn load(conn: &mut SqliteConnection, user: &str, model: &str) -> StoreResult<UserVectors> {
    use futures_util::TryStreamExt;

    let mut rows = sqlx::query_as::<_, (i64, i64, Option<String>, Vec<u8>)>(
        "SELECT seq, updated_at, project, embedding FROM memories \
         WHERE user_id = ?1 AND embedding_model = ?2 ORDER BY seq",
    )
    .bind(user)
    .bind(model)
    .fetch(conn);
    let mut list = UserVectors::default();
    let mut projects: HashMap<String, Arc<str>> = HashMap::new();
    let mut vector = Vec::new();
    while let Some((seq, updated_at, project, blob)) = rows.try_next().await.map_err(db)? {
        from_blob_into(&blob, &mut vector);
        let project = project.map(|p| Arc::clone(projects.entry(p.clone()).or_insert(p.into())));
        list.upsert(seq, updated_at, project, &vector);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(shortlist: Vec<(i64, i64)>) -> Vec<i64> {
        shortlist.into_iter().map(|(seq, _)| seq).collect()
    }

    fn unit(i: usize, dims: usize) -> Vec<f32> {
        let mut v = vec![0.0; dims];
        v[i % dims] = 1.0;
        v[(i + 1) % dims] = 0.5;
        v
    }

    #[test]
    fn shortlist_orders_by_similarity_and_filters_projects() {
        let mut list = UserVectors::default();
        for seq in 0..8 {
            let project = (seq % 2 == 0).then(|| Arc::from("even"));
            list.upsert(seq, seq, project, &unit(seq as usize, 8));
        }
        assert_eq!(seqs(list.shortlist(&unit(3, 8), None, 3)), [3, 2, 4]);
        assert_eq!(seqs(list.shortlist(&unit(3, 8), Some("even"), 2)), [2, 4]);
        assert!(
            list.shortlist(&unit(3, 7), None, 3).is_empty(),
            "other shape"
        );
    }

    /// A deterministic vector with components spread over -1..1.
    fn spread(seed: u64, dims: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..dims)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn long_lists_narrowed_by_signs_still_find_the_nearest() {
        let dims = 128;
        let mut list = UserVectors::default();
        let total = SIGNS_FROM as i64 + 500;
        for seq in 0..total {
            let project = (seq % 3 == 0).then(|| Arc::from("third"));
            list.upsert(seq, seq, project, &spread(seq as u64, dims));
        }
        for target in [7, 2_346, total - 1] {
            let mut query = spread(target as u64, dims);
            query[0] += 0.05; // near, not equal
            let found = seqs(list.shortlist(&query, None, 10));
            assert_eq!(found[0], target, "the nearest of {total}");
        }
        let signs = list.bits.len() * 8;
        assert_eq!(list.scan_bytes(&[(Some("nowhere"), 10)]), signs);
        assert_eq!(
            list.scan_bytes(&[(None, 10), (Some("third"), 10)]),
            signs + 2 * SIGNS_KEEP_MIN * dims
        );
        let thirds = list.projects.iter().flatten().count();
        list.upsert(1, 1, Some(Arc::from("third")), &spread(1, dims));
        assert_eq!(list.project_counts.get("third"), Some(&(thirds + 1)));
        list.upsert(1, 1, None, &spread(1, dims));
        list.remove(0);
        assert_eq!(list.project_counts.get("third"), Some(&(thirds - 1)));
        list.upsert(0, 0, None, &spread(0, dims));
        assert_eq!(list.project_counts.get("third"), Some(&(thirds - 1)));
        let in_project = seqs(list.shortlist(&spread(2_346, dims), Some("third"), 5));
        assert_eq!(in_project[0], 2_346);
        assert!(in_project.iter().all(|seq| seq % 3 == 0));
        list.remove(2_346);
        assert!(!seqs(list.shortlist(&spread(2_346, dims), None, 5)).contains(&2_346));
    }

    #[test]
    fn shortlists_together_match_each_alone() {
        let dims = 64;
        for total in [40, SIGNS_FROM as i64 + 300] {
            let mut list = UserVectors::default();
            for seq in 0..total {
                let project = match seq % 3 {
                    0 => Some(Arc::from("third")),
                    1 => Some(Arc::from("other")),
                    _ => None,
                };
                list.upsert(seq, seq, project, &spread(seq as u64, dims));
            }
            let query = spread(17, dims);
            let scopes = [
                (None, 12),
                (Some("third"), 5),
                (Some("none of them"), 12),
                (Some("other"), 200),
            ];
            let together = list.shortlists(&query, &scopes);
            assert_eq!(together.len(), scopes.len());
            for (&(project, k), found) in scopes.iter().zip(together) {
                let alone = list.shortlist(&query, project, k);
                assert_eq!(found, alone, "{project:?} of {total}");
            }
        }
    }

    #[test]
    fn nearest_keeps_the_smallest_distances_ties_to_the_earlier() {
        let distances = [5, 1, 3, 1, 0, 3, 3, 8, 2];
        let sorted = |keep: usize, accept: &dyn Fn(usize) -> bool| {
            let mut pairs: Vec<(u32, usize)> = (0..distances.len())
                .filter(|&at| accept(at))
                .map(|at| (distances[at], at))
                .collect();
            pairs.sort_unstable();
            let mut ats: Vec<usize> = pairs.into_iter().take(keep).map(|(_, at)| at).collect();
            ats.sort_unstable();
            ats
        };
        for keep in 0..=distances.len() + 2 {
            assert_eq!(
                nearest(&distances, 8, keep, |_| true),
                sorted(keep, &|_| true)
            );
            let odd = |at: usize| at % 2 == 1;
            assert_eq!(
                nearest(&distances, 8, keep, odd),
                sorted(keep, &odd),
                "{keep}"
            );
        }
        assert_eq!(nearest(&distances, 8, 5, |_| true), [1, 2, 3, 4, 8]);
    }

    #[test]
    fn upsert_replaces_and_remove_keeps_positions_right() {
        let mut list = UserVectors::default();
        for seq in 0..5 {
            list.upsert(seq, seq, None, &unit(seq as usize, 8));
        }
        list.remove(1);
        list.remove(1);
        list.upsert(4, 9, None, &unit(6, 8));
        list.upsert(9, 9, None, &[1.0; 3]);
        assert_eq!(list.seqs.len(), 4);
        assert_eq!(list.shortlist(&unit(6, 8), None, 1), [(4, 9)]);
        assert_eq!(seqs(list.shortlist(&unit(0, 8), None, 1)), [0]);
        list.remove(0);
        assert_eq!(seqs(list.shortlist(&unit(3, 8), None, 1)), [3]);
        assert_eq!(list.scan_bytes(&[(None, 1)]), 3 * 8);
    }
}
