// Shared between the communicator binding files: store clients are registered by comm.cc and
// used by the NCCL bindings (nccl.cc) for the unique-id exchange.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>

#include "comm/tcp_store.h"

namespace telechat {
// The store client with this id; throws when there is none.
std::shared_ptr<comm::TcpStoreClient> store_client(int64_t id);
// ncclProbe always; the NCCL communicator (ncclComm*, ncclWork*) in CUDA builds.
void register_nccl(Napi::Env env, Napi::Object exports);
}  // namespace telechat
