// The decode actors: one per GPU and micro-batch, replaying planned steps on the SimGrid network.
#include "core/decode/decode_plan.hpp"
#include "core/decode/recorder.hpp"
#include "core/decode/run_spec.hpp"
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "simgrid/platform_loader.hpp"
#include "simgrid/simulation_impl.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

namespace sg4 = simgrid::s4u;

namespace moesim {

namespace {

/// State shared by the actors of one run. SimGrid runs actors one at a time in one thread, so plain members are safe.
struct RunState {
  Simulation::Impl* sim = nullptr;
  DecodePlanner* planner = nullptr;
  Recorder* recorder = nullptr;
  const ModelSpec* model = nullptr;
  int steps = 0;
  int gpus = 0;
  int micro = 1;
  double dispatch_bpt = 0;
  double combine_bpt = 0;
  std::vector<sg4::Mailbox*> dispatch_box; ///< [gpu * micro + m]
  std::vector<sg4::Mailbox*> combine_box;  ///< [gpu * micro + m]
  /// Exact model, hierarchical path: the data of each stage gets its own mailboxes, apart from the flags (which use
  /// dispatch_box/combine_box), so that a stage receives only its own messages. [dispatch 0 / combine 1][stage][box]
  std::vector<sg4::Mailbox*> stage_box[2][2];
  std::vector<sg4::MutexPtr> compute_lock; ///< [gpu], only with two micro-batches
  std::vector<int> rank_payload;           ///< [gpu]: the payload of a message is a pointer to its sender's rank
  std::map<int, std::pair<std::shared_ptr<const StepPlan>, int>> plans; ///< step -> (plan, actors still using it)
  int next_plan = 0;
  int steps_done_all = 0;
  std::vector<int> steps_done; ///< [gpu * micro + m]
  std::function<void(int, double)> progress;
  CommModel comm = CommModel::Fast;

  /// One all-to-all of the fast model per micro-batch: the GPUs register their start and traffic, wait at the
  /// barrier, and the first one through computes every GPU's end (no simulated time passes while it does).
  struct FastPhase {
    sg4::BarrierPtr barrier;
    std::vector<double> start_s;                                  ///< [gpu]
    std::vector<const LayerTraffic*> traffic; ///< [gpu] the layer's traffic (the same for all), owned by the plan
    bool dispatch = true;                     ///< dispatch (true) or combine (false: every flow reversed)
    double bytes_per_token = 0;
    std::vector<double> end_s; ///< [gpu]
    int64_t computed = -1;     ///< sequence number of the phase end_s belongs to
  };
  std::vector<FastPhase> fast; ///< [micro-batch]
  FlowBatch batch;
  FlowSolver solver;
  std::vector<double> finish_s;
  std::vector<int32_t> flow_src, flow_dst;

  void add_flows(const std::vector<std::vector<std::pair<int, int32_t>>>& rows, bool reverse, const FastPhase& ph)
  {
    for (int a = 0; a < static_cast<int>(rows.size()); ++a)
      for (auto [b, n] : rows[a]) {
        const int src = reverse ? b : a, dst = reverse ? a : b;
        if (src == dst)
          continue;
        const double bytes = static_cast<double>(static_cast<uint64_t>(n * ph.bytes_per_token));
        int len = 0;
        const int32_t* links = sim->route(src, dst, len);
        batch.add(sim->effective_bytes(src, dst, bytes), ph.start_s[src], links, len);
        flow_src.push_back(src);
        flow_dst.push_back(dst);
        sim->bytes_sent += bytes;
        sim->bytes_received += bytes;
      }
  }

  void compute_fast(FastPhase& ph)
  {
    const int G = gpus;
    const LayerTraffic& lt = *ph.traffic[0];
    const bool hier = !lt.stage1.empty();
    batch.clear();
    flow_src.clear();
    flow_dst.clear();
    size_t first_stage_flows = 0;
    if (!hier) {
      add_flows(lt.out, !ph.dispatch, ph);
    } else if (ph.dispatch) { // stage 1 (to own-node GPUs and to the peers), then the peers' forwarding
      add_flows(lt.stage1, false, ph);
      first_stage_flows = batch.size();
      add_flows(lt.stage2, false, ph);
    } else { // combine: GPUs send their results to the peer first, the peers send the reduced results back
      add_flows(lt.stage2, true, ph);
      first_stage_flows = batch.size();
      add_flows(lt.stage1, true, ph);
    }
    if (hier) {
      // A GPU can pass on (forward in dispatch, send back reduced in combine) only what it has received: its
      // second-stage flows start when its first-stage data has arrived. Those arrivals come from solving the
      // first stage alone; the solve of both stages then checks them (a second-stage flow sharing a link with a
      // late first-stage one can still delay it).
      FlowBatch& first = first_stage_;
      first.clear();
      for (size_t f = 0; f < first_stage_flows; ++f)
        first.add(batch.bytes[f], batch.start_s[f], &batch.route_links[batch.route_begin[f]],
                  batch.route_begin[f + 1] - batch.route_begin[f]);
      solver.solve(sim->network, first, finish_s);
      stage_ready(first_stage_flows);
      for (size_t f = first_stage_flows; f < batch.size(); ++f)
        batch.start_s[f] = std::max(batch.start_s[f], ready_s[flow_src[f]]);
    }
    solver.solve(sim->network, batch, finish_s);
    // Every pair exchanges a message (the count/flag of real kernels), so a GPU waits for every peer's start
    // plus the route latency, and for the data flows addressed to it.
    for (int dst = 0; dst < G; ++dst) {
      double end = ph.start_s[dst];
      for (int src = 0; src < G; ++src)
        if (src != dst)
          end = std::max(end, ph.start_s[src] + sim->latency(src, dst));
      ph.end_s[dst] = end;
    }
    if (hier) {
      stage_ready(first_stage_flows);
      for (size_t f = first_stage_flows; f < finish_s.size(); ++f)
        finish_s[f] = std::max(finish_s[f], ready_s[flow_src[f]]);
    }
    for (size_t f = 0; f < finish_s.size(); ++f)
      ph.end_s[flow_dst[f]] = std::max(ph.end_s[flow_dst[f]], finish_s[f] + sim->latency(flow_src[f], flow_dst[f]));
  }
  /// ready_s[gpu] = arrival of the last of the first `flows` flows (the first stage) addressed to it.
  void stage_ready(size_t flows)
  {
    ready_s.assign(gpus, 0.0);
    for (size_t f = 0; f < flows; ++f)
      ready_s[flow_dst[f]] = std::max(ready_s[flow_dst[f]], finish_s[f] + sim->latency(flow_src[f], flow_dst[f]));
  }
  std::vector<double> ready_s;
  FlowBatch first_stage_;

  std::shared_ptr<const StepPlan> acquire(int step)
  {
    auto it = plans.find(step);
    if (it == plans.end()) {
      if (step != next_plan)
        throw InternalError("decode plan requested out of order");
      auto plan = std::make_shared<const StepPlan>(planner->next_step());
      recorder->plan_metrics(*plan);
      ++next_plan;
      it = plans.emplace(step, std::make_pair(plan, gpus * micro)).first;
    }
    return it->second.first;
  }
  void release(int step, int actor)
  {
    auto it = plans.find(step);
    if (--it->second.second == 0)
      plans.erase(it);
    steps_done[actor] = step + 1;
    const int all = *std::min_element(steps_done.begin(), steps_done.end());
    if (all > steps_done_all) {
      steps_done_all = all;
      if (progress)
        progress(all, sg4::Engine::get_clock());
    }
  }
};

class GpuActor {
public:
  GpuActor(RunState* st, int gpu, int micro) : st_(st), gpu_(gpu), m_(micro) {}

  void operator()()
  {
    // Eager delivery: data flows as soon as it is sent, like RDMA/NVLink writes into preallocated buffers.
    for (auto* boxes : receive_boxes())
      (*boxes)[box()]->set_receiver(sg4::Actor::self());
    const int num_layers = st_->model->num_layers;
    for (int s = 0; s < st_->steps; ++s) {
      auto plan = st_->acquire(s);
      const MicroBatchPlan& mp = plan->micro[m_];
      for (int layer = 0; layer < num_layers; ++layer) {
        const int moe = st_->model->moe_index(layer);
        compute(s, layer, moe >= 0 ? mp.moe_pre_s[gpu_] : mp.dense_layer_s[gpu_], SpanKind::Attention);
        if (moe < 0)
          continue;
        const LayerTraffic& lt = mp.layers[moe];
        exchange(s, layer, lt, true, st_->dispatch_box, st_->dispatch_bpt, SpanKind::Dispatch);
        compute(s, layer, lt.expert_time_s[gpu_], SpanKind::Expert);
        exchange(s, layer, lt, false, st_->combine_box, st_->combine_bpt, SpanKind::Combine);
        sg4::Comm::wait_all(pending_sends_);
        pending_sends_.clear();
      }
      compute(s, -1, mp.lm_head_s[gpu_], SpanKind::Head);
      st_->recorder->step_done(s, gpu_, sg4::Engine::get_clock());
      st_->release(s, box());
    }
    for (auto* boxes : receive_boxes())
      (*boxes)[box()]->set_receiver(nullptr);
  }

private:
  int box() const { return gpu_ * st_->micro + m_; }
  std::vector<std::vector<sg4::Mailbox*>*> receive_boxes()
  {
    std::vector<std::vector<sg4::Mailbox*>*> all{&st_->dispatch_box, &st_->combine_box};
    for (auto& phase : st_->stage_box)
      for (auto& stage : phase)
        if (!stage.empty())
          all.push_back(&stage);
    return all;
  }

  void compute(int step, int layer, double t_s, SpanKind kind)
  {
    if (t_s <= 0)
      return;
    if (st_->micro > 1) {
      // Two micro-batches share the GPU's compute: one computes while the other communicates.
      const double t0 = sg4::Engine::get_clock();
      st_->compute_lock[gpu_]->lock();
      const double t1 = sg4::Engine::get_clock();
      if (t1 > t0)
        st_->recorder->span(step, gpu_, m_, layer, SpanKind::Wait, t0, t1);
      sg4::this_actor::sleep_for(t_s);
      st_->compute_lock[gpu_]->unlock();
      st_->recorder->span(step, gpu_, m_, layer, kind, t1, sg4::Engine::get_clock());
    } else {
      const double t0 = sg4::Engine::get_clock();
      sg4::this_actor::sleep_for(t_s);
      st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock());
    }
  }

  /// Sends `out` (peer, tokens) and receives one message from every other GPU. Every pair exchanges a message,
  /// empty when no token goes there (the count/flag real dispatch kernels send), so the phase ends only when all
  /// peers have reached it. Arrival = end of the transfer + route latency.
  void exchange(int step, int layer, const LayerTraffic& lt, bool dispatch, const std::vector<sg4::Mailbox*>& boxes,
                double bytes_per_token, SpanKind kind)
  {
    const double t0 = sg4::Engine::get_clock();
    // Dispatch sends the layer's row and receives its column; combine the reverse.
    const auto& out = dispatch ? lt.out[gpu_] : lt.in[gpu_];
    const auto& in = dispatch ? lt.in[gpu_] : lt.out[gpu_];
    if (st_->comm == CommModel::Fast) {
      auto& ph = st_->fast[m_];
      ph.start_s[gpu_] = t0;
      ph.traffic[gpu_] = &lt;
      ph.dispatch = dispatch;
      ph.bytes_per_token = bytes_per_token;
      ph.barrier->wait();
      if (ph.computed != fast_phase_) {
        st_->compute_fast(ph);
        ph.computed = fast_phase_;
      }
      ++fast_phase_;
      sg4::this_actor::sleep_until(ph.end_s[gpu_]);
      st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock());
      return;
    }
    if (!lt.stage1.empty()) {
      exchange_hierarchical(lt, dispatch, boxes, bytes_per_token);
      st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock());
      return;
    }
    const int G = st_->gpus, M = st_->micro;
    auto it = out.begin();
    for (int p = 0; p < G; ++p) {
      if (p == gpu_)
        continue;
      double bytes = 0;
      if (it != out.end() && it->first == p) {
        bytes = it->second * bytes_per_token;
        ++it;
      }
      st_->sim->bytes_sent += static_cast<double>(static_cast<uint64_t>(bytes));
      pending_sends_.push_back(boxes[p * M + m_]->put_async(
          &st_->rank_payload[gpu_], static_cast<uint64_t>(st_->sim->effective_bytes(gpu_, p, std::floor(bytes)))));
    }
    for (auto [src, n] : in)
      st_->sim->bytes_received += static_cast<double>(static_cast<uint64_t>(n * bytes_per_token));
    const double arrival = receive_all(boxes[box()], G - 1);
    if (arrival > sg4::Engine::get_clock())
      sg4::this_actor::sleep_until(arrival);
    st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock());
  }

  /// Receives `count` messages from `box` (each payload: its sender's rank) and returns the latest arrival: end of
  /// the transfer + route latency, or now if that is later.
  double receive_all(sg4::Mailbox* box, int count)
  {
    recvs_.clear();
    payloads_.assign(count, nullptr);
    for (int i = 0; i < count; ++i)
      recvs_.push_back(box->get_async<int>(&payloads_[i]));
    sg4::Comm::wait_all(recvs_);
    double arrival = sg4::Engine::get_clock();
    for (int i = 0; i < count; ++i)
      arrival = std::max(arrival, recvs_[i]->get_finish_time() + st_->sim->latency(*payloads_[i], gpu_));
    return arrival;
  }

  /// The hierarchical path with one SimGrid message per flow, the reference for the fast model's version: every
  /// pair exchanges an empty flag; stage A's data leaves at once; a GPU sends its stage-B data only once all of its
  /// stage-A data has arrived (it forwards, or sends back reduced, only what it has received). Dispatch: A = stage1,
  /// B = stage2; combine runs both backwards (A = stage2 reversed, B = stage1 reversed).
  void exchange_hierarchical(const LayerTraffic& lt, bool dispatch, const std::vector<sg4::Mailbox*>& flag_boxes,
                             double bytes_per_token)
  {
    const int G = st_->gpus, M = st_->micro;
    // This GPU's sends and expected receives per stage: dispatch follows the stage rows, combine their transposes.
    const auto& a_out = dispatch ? lt.stage1[gpu_] : lt.stage2_in[gpu_];
    const auto& a_in = dispatch ? lt.stage1_in[gpu_] : lt.stage2[gpu_];
    const auto& b_out = dispatch ? lt.stage2[gpu_] : lt.stage1_in[gpu_];
    const auto& b_in = dispatch ? lt.stage2_in[gpu_] : lt.stage1[gpu_];
    auto& a_box = st_->stage_box[dispatch ? 0 : 1][0];
    auto& b_box = st_->stage_box[dispatch ? 0 : 1][1];
    for (int p = 0; p < G; ++p)
      if (p != gpu_)
        pending_sends_.push_back(flag_boxes[p * M + m_]->put_async(&st_->rank_payload[gpu_], 0));
    const auto send = [&](const std::vector<std::pair<int, int32_t>>& to_peers, std::vector<sg4::Mailbox*>& to) {
      for (auto [dst, tokens] : to_peers) {
        const double bytes = static_cast<double>(static_cast<uint64_t>(tokens * bytes_per_token));
        st_->sim->bytes_sent += bytes;
        st_->sim->bytes_received += bytes;
        pending_sends_.push_back(to[dst * M + m_]->put_async(
            &st_->rank_payload[gpu_], static_cast<uint64_t>(st_->sim->effective_bytes(gpu_, dst, bytes))));
      }
    };
    send(a_out, a_box);
    double end = receive_all(flag_boxes[box()], G - 1);
    const double ready = receive_all(a_box[box()], static_cast<int>(a_in.size()));
    end = std::max(end, ready);
    if (ready > sg4::Engine::get_clock())
      sg4::this_actor::sleep_until(ready);
    send(b_out, b_box);
    end = std::max(end, receive_all(b_box[box()], static_cast<int>(b_in.size())));
    if (end > sg4::Engine::get_clock())
      sg4::this_actor::sleep_until(end);
  }

  RunState* st_;
  int gpu_;
  int m_;
  int64_t fast_phase_ = 0; ///< all-to-alls this actor has done in the fast model
  std::vector<sg4::CommPtr> pending_sends_;
  std::vector<sg4::CommPtr> recvs_;
  std::vector<int*> payloads_;
};

} // namespace

void Simulation::run(DecodePlanner& planner, const ModelSpec& model, int steps, double dispatch_bytes_per_token,
                     double combine_bytes_per_token, Recorder& recorder, const std::function<void(int, double)>& progress,
                     CommModel comm)
{
  RunState st;
  st.sim = impl_.get();
  st.planner = &planner;
  st.recorder = &recorder;
  st.model = &model;
  st.steps = steps;
  st.gpus = impl_->cluster.num_gpus();
  st.micro = planner.micro_batches();
  st.dispatch_bpt = dispatch_bytes_per_token;
  st.combine_bpt = combine_bytes_per_token;
  st.progress = progress;
  st.comm = comm;
  const int G = st.gpus, M = st.micro;
  if (comm == CommModel::Fast)
    for (int m = 0; m < M; ++m) {
      RunState::FastPhase ph;
      ph.barrier = sg4::Barrier::create(static_cast<unsigned>(G));
      ph.start_s.assign(G, 0.0);
      ph.traffic.assign(G, nullptr);
      ph.end_s.assign(G, 0.0);
      st.fast.push_back(std::move(ph));
    }
  for (int g = 0; g < G; ++g) {
    st.rank_payload.push_back(g);
    if (M > 1)
      st.compute_lock.push_back(sg4::Mutex::create());
    for (int m = 0; m < M; ++m) {
      st.dispatch_box.push_back(sg4::Mailbox::by_name("dispatch-" + std::to_string(g) + "-" + std::to_string(m)));
      st.combine_box.push_back(sg4::Mailbox::by_name("combine-" + std::to_string(g) + "-" + std::to_string(m)));
      if (comm == CommModel::Exact && planner.dispatch_path() == DispatchPath::Hierarchical)
        for (int ph = 0; ph < 2; ++ph)
          for (int stage = 0; stage < 2; ++stage)
            st.stage_box[ph][stage].push_back(sg4::Mailbox::by_name(
                std::string(ph == 0 ? "dispatch" : "combine") + "-stage" + std::to_string(stage) + "-" +
                std::to_string(g) + "-" + std::to_string(m)));
    }
  }
  st.steps_done.assign(static_cast<size_t>(G) * M, 0);
  impl_->bytes_sent = impl_->bytes_received = 0;
  for (int g = 0; g < G; ++g)
    for (int m = 0; m < M; ++m)
      sg4::Actor::create("gpu-" + std::to_string(g) + "-mb" + std::to_string(m), impl_->hosts[g], GpuActor(&st, g, m));
  const auto w0 = std::chrono::steady_clock::now();
  impl_->engine->run();
  impl_->engine_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  if (st.steps_done_all != steps)
    throw InternalError("simulation ended after " + std::to_string(st.steps_done_all) + " of " + std::to_string(steps) +
                        " steps (deadlock)");
}

std::vector<double> Simulation::fast_transfers(const std::vector<std::tuple<int, int, double>>& transfers)
{
  FlowBatch batch;
  for (auto [src, dst, bytes] : transfers) {
    int len = 0;
    const int32_t* links = impl_->route(src, dst, len);
    batch.add(impl_->effective_bytes(src, dst, static_cast<double>(static_cast<uint64_t>(bytes))), 0.0, links, len);
  }
  FlowSolver solver;
  std::vector<double> finish;
  solver.solve(impl_->network, batch, finish);
  for (size_t i = 0; i < transfers.size(); ++i)
    finish[i] += impl_->latency(std::get<0>(transfers[i]), std::get<1>(transfers[i]));
  return finish;
}

std::vector<double> Simulation::run_transfers(const std::vector<std::tuple<int, int, double>>& transfers)
{
  std::vector<double> done(transfers.size(), 0.0);
  Impl* impl = impl_.get();
  for (size_t i = 0; i < transfers.size(); ++i) {
    auto [src, dst, bytes] = transfers[i];
    auto* box = sg4::Mailbox::by_name("transfer-" + std::to_string(i));
    bytes = impl->effective_bytes(src, dst, bytes);
    sg4::Actor::create("send-" + std::to_string(i), impl->hosts[src], [box, bytes = bytes]() {
      static int payload = 0;
      box->put(&payload, static_cast<uint64_t>(bytes));
    });
    sg4::Actor::create("recv-" + std::to_string(i), impl->hosts[dst], [box, impl, i, src = src, dst = dst, &done]() {
      box->get<int>();
      done[i] = sg4::Engine::get_clock() + impl->latency(src, dst);
    });
  }
  const auto w0 = std::chrono::steady_clock::now();
  impl->engine->run();
  impl->engine_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  return done;
}

} // namespace moesim
