//! The bloom filter of one string column chunk of a data file: a split block bloom filter as
//! the Parquet format defines it (`BloomFilter.md`: xxHash64 with seed 0, 32-byte blocks of
//! eight words, the block picked by the hash's upper half, one bit per word by the lower half
//! times the format's eight salts), filled here and handed to parquet-rs to fold and write.
//!
//! parquet-rs inserts each value it encodes, through a hash and a block lookup it keeps
//! private. Filled here instead, the hash of a value is compared with the previous row's
//! before its block is touched (rows are sorted, so a value often repeats the one before):
//! repeats cost one hash and one comparison of two numbers, and no value is compared byte by
//! byte (`memcmp` on short strings is branchy work). The filter has the size parquet-rs gives it
//! (`Sbbf::new_with_ndv_fpp`) and is folded as parquet-rs folds it (`fold_to_target_fpp` at each
//! chunk's close), so the file holds the bytes parquet-rs would have written.

use deltalake::arrow::array::{Array, StringArray};
use deltalake::parquet::bloom_filter::Sbbf;
use deltalake::parquet::errors::ParquetError;
use twox_hash::XxHash64;

/// The Parquet format's salts, one per word of a block.
const SALT: [u32; 8] =
    [0x47b6_137b, 0x4497_4d91, 0x8824_ad5b, 0xa2b7_289d, 0x7054_95c7, 0x2df1_424b, 0x9efc_4947, 0x5c6b_fb31];

/// A column's bloom filter settings: the distinct values it is sized for and its target
/// false-positive probability (parquet-rs's `BloomFilterProperties`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BloomSettings {
    pub ndv: u64,
    pub fpp: f64,
}

/// The filter of the chunk being written, kept for the column's next chunk once finished.
pub(super) struct ChunkBloom {
    fpp: f64,
    blocks: Vec<[u32; 8]>,
    /// The hash of the chunk's last value so far.
    last: Option<u64>,
}

impl ChunkBloom {
    /// An empty filter, of the size parquet-rs gives `settings`.
    ///
    /// Its blocks are zeroed by writing: memory the allocator hands out zeroed (`calloc`) can
    /// be the kernel's shared zero page until written, and then every block's first insert
    /// (a read, then a write) takes two page faults, the second one flushing the page from
    /// every core's TLB.
    ///
    /// # Errors
    /// [`ParquetError`] for an `fpp` outside `[0, 1)`.
    pub(super) fn new(settings: BloomSettings) -> Result<ChunkBloom, ParquetError> {
        let len = Sbbf::new_with_ndv_fpp(settings.ndv, settings.fpp)?.num_blocks();
        let mut blocks = Vec::with_capacity(len);
        blocks.resize(len, [0; 8]);
        Ok(ChunkBloom { fpp: settings.fpp, blocks, last: None })
    }

    /// Inserts the non-null values of `values`.
    pub(super) fn insert(&mut self, values: &StringArray) {
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        for i in (0..values.len()).filter(|&i| nulls.is_none_or(|n| n.is_valid(i))) {
            let hash = XxHash64::oneshot(0, values.value(i).as_bytes());
            if self.last != Some(hash) {
                self.insert_hash(hash);
                self.last = Some(hash);
            }
        }
    }

    /// Sets the eight bits of `hash` in its block.
    fn insert_hash(&mut self, hash: u64) {
        let index = ((hash >> 32) * self.blocks.len() as u64) >> 32;
        let block = &mut self.blocks[index as usize];
        for (word, salt) in block.iter_mut().zip(SALT) {
            *word |= 1 << ((hash as u32).wrapping_mul(salt) >> 27);
        }
    }

    /// The chunk's filter, folded to the target false-positive probability; `self` is left
    /// empty for the next chunk.
    pub(super) fn finish(&mut self) -> Sbbf {
        let bytes: Vec<u8> = self.blocks.iter().flatten().flat_map(|word| word.to_le_bytes()).collect();
        self.blocks.fill([0; 8]);
        self.last = None;
        let mut filter = Sbbf::new(&bytes);
        filter.fold_to_target_fpp(self.fpp);
        filter
    }
}
