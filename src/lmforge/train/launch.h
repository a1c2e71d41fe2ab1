// `lmforge train --nproc N` on one machine: starts N copies of this very program (/proc/self/exe,
// same arguments) as ranks 0..N-1 with the torchrun variables set (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: a free port unless MASTER_PORT is set)
// and waits for them. When one rank fails (non-zero exit or a signal), the others get a few
// seconds to stop on their own (they notice through their collectives' errors), then are killed;
// launch_local then throws UserError naming the rank that failed first.
//
// Signals: Ctrl-C reaches every rank directly (same process group) and each saves and stops;
// the launcher ignores it and waits. SIGTERM sent to the launcher is forwarded to the ranks.
#pragma once

namespace lmforge {

// Returns 0 when every rank succeeded; throws UserError otherwise.
int launch_local(int nproc, bool quiet);

}  // namespace lmforge
