//! brisk-pool will hold `WorkerPool`, a pool of OS threads with the
//! semantics of fasthttp's workerPool (LIFO idle stack, spawn on demand,
//! reject when full, reap idle workers).
