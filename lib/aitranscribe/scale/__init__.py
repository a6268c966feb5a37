"""Scale-out: work cut into shards, each with its own output and done-marker (:mod:`.shards`), processed in this
process or by Ray workers (:mod:`.executor`), the same shard function either way. See docs/scale.md."""
