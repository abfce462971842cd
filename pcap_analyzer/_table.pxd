# An open-addressing hash table from two 64-bit keys to an id, for the compiled stages
# (addresses, conversations): compiled into each stage that cimports it.
from libc.stdint cimport int64_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <vector>
    struct PcapanSlot { uint64_t a, b; int64_t v; };
    /* linear probing, at most half full; keys (a, b) map to ids v >= 0 */
    struct PcapanTable {
        std::vector<PcapanSlot> slots;
        uint64_t mask;
        int64_t used;
        PcapanTable() { reset(64); }
        void reset(size_t cap) {
            PcapanSlot empty = {0, 0, -1};
            slots.assign(cap, empty);
            mask = cap - 1;
            used = 0;
        }
        static uint64_t hash(uint64_t a, uint64_t b) {
            uint64_t h = (a * 0x9E3779B97F4A7C15ULL) ^ ((b + 0x165667B19E3779F9ULL) * 0xC2B2AE3D27D4EB4FULL);
            h ^= h >> 31; h *= 0x165667B19E3779F9ULL; h ^= h >> 29;
            return h;
        }
        int64_t find(uint64_t a, uint64_t b) const {
            uint64_t i = hash(a, b) & mask;
            while (slots[i].v != -1) {
                if (slots[i].a == a && slots[i].b == b) return slots[i].v;
                i = (i + 1) & mask;
            }
            return -1;
        }
        void put(uint64_t a, uint64_t b, int64_t v) {
            uint64_t i = hash(a, b) & mask;
            while (slots[i].v != -1) i = (i + 1) & mask;
            slots[i].a = a; slots[i].b = b; slots[i].v = v;
            used++;
        }
        /* a key not in the table */
        void add(uint64_t a, uint64_t b, int64_t v) {
            if ((uint64_t)(used + 1) * 2 > mask + 1) {
                std::vector<PcapanSlot> old;
                old.swap(slots);
                reset(old.size() * 2);
                for (size_t j = 0; j < old.size(); j++)
                    if (old[j].v != -1) put(old[j].a, old[j].b, old[j].v);
            }
            put(a, b, v);
        }
        size_t memory() const { return slots.capacity() * sizeof(PcapanSlot); }
    };
    """
    cdef cppclass PcapanTable:
        int64_t used
        int64_t find(uint64_t a, uint64_t b) nogil
        void add(uint64_t a, uint64_t b, int64_t v) nogil
        size_t memory() nogil
