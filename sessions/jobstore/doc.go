// Package jobstore keeps the checkpoints of jobs in a compacted Kafka topic,
// so that a client that holds no state can restart on any ferry: Flink's
// checkpoint storage and the job manager's record of completed checkpoints,
// kept the way Kafka Connect keeps its offsets and configs (KafkaBasedLog).
//
// # Model
//
// A job (Flink's job) has operators (Flink's operator uids), each run by
// parallelism members at indexes 0..parallelism-1 (Flink's subtasks); a
// member is a ferry session. A session Joins at open, stores its state at
// every checkpoint barrier with PutState, and, once every stream of the job
// has answered, the client completes the checkpoint once with Complete. The
// completion is the commit point: only after Complete returns do the sessions
// commit offsets and transactions, and a restore reads the newest completed
// checkpoint (Latest, then States per operator, whose union a restore
// takes, so that parallelism may change between runs).
//
// # Records
//
// One topic per cluster, one partition (one order for every record),
// cleanup.policy=compact. Keys are chosen so that compaction keeps what a
// restore needs; values are JSON:
//
//	ferry/v1/{job}/state/{checkpoint id, %020d}/{operator}/{index}  State
//	ferry/v1/{job}/complete/{checkpoint id, %020d}                  Completion
//	ferry/v1/{job}/member/{operator}/{index}                        Member
//
// A state's Data is opaque here (the server stores a protobuf SourceState or
// SinkState). Job and operator names are 1 to 249 bytes of UTF-8 without '/'
// or control characters. After each completion, the states and completions
// of checkpoints older than the Retain-th newest completed one are
// tombstoned; member records stay while their operator does.
//
// # Index
//
// Every Store tails the topic from its start into memory, the latest record
// per key, and Open returns only once it has read what the topic held, so a
// restore needs no scan. A Store's own writes are produced with acks=all,
// waited for, and applied at once (the tail applies them again, which changes
// nothing); other ferries' writes arrive through the tail within about
// 100 ms. Join and Complete read the topic to its end first (Sync), so they
// decide on every record written anywhere before them. The rules that read
// the index depend only on the latest record per key and the records'
// offsets, so a ferry that rebuilt its index from a compacted topic answers
// as one that read every record.
//
// # Members and parallelism
//
// An operator's current members are its member records in topic order,
// where a record with another parallelism than the one before it replaces
// all before it. A member with a new parallelism may join only when no
// current member joined after the job's last completed checkpoint
// (*ConflictError otherwise): a rescale restarts from a completed
// checkpoint; two parallelisms at once are refused. Complete requires, for
// every operator with members, a state for the checkpoint at each index
// 0..parallelism-1 stored by the session that is the member there: a state
// left by a session that a restart replaced does not count.
//
// Concurrency: the index is read by many goroutines under a read lock; no
// lock is held across network I/O.
package jobstore
