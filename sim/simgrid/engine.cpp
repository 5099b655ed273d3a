// The decode actors: one per GPU and micro-batch, replaying planned steps on the SimGrid network.
#include "core/comm/phase.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/decode/recorder.hpp"
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "simgrid/platform_loader.hpp"
#include "simgrid/simulation_impl.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <tuple>

namespace sg4 = simgrid::s4u;

namespace moesim {

namespace {

/// What a message carries: its sender and when the sender's SMs have issued all its data of this phase (the
/// arrival is no earlier than that plus the latency, comm/phase.hpp).
struct MessageTag {
  int rank = 0;
  double ready_s = 0;
};

/// State shared by the actors of one run. SimGrid runs actors one at a time in one thread, so plain members are safe.
struct RunState {
  Simulation::Impl* sim = nullptr;
  StepSource* planner = nullptr;
  Recorder* recorder = nullptr;
  const ModelSpec* model = nullptr;
  int steps = 0;
  int gpus = 0;
  int micro = 1;
  std::vector<sg4::Mailbox*> flag_box;     ///< [gpu * micro + m]: the flags of every phase
  /// Exact model: the data of each stage gets its own mailboxes, apart from the flags, so that a stage receives only
  /// its own messages. [stage][gpu * micro + m]
  std::vector<sg4::Mailbox*> stage_box[2];
  std::vector<sg4::Mailbox*> forwarded_box; ///< exact model: "all forwarded data has arrived at its forwarder"
  std::vector<sg4::MutexPtr> compute_lock; ///< [gpu], only with two micro-batches
  /// [(gpu * micro + m) * 2 + phase parity]: a sender's tag, double-buffered so that a fast sender's next phase
  /// cannot overwrite what a receiver of the previous one still reads.
  std::vector<MessageTag> tags;
  std::map<int, std::pair<std::shared_ptr<const StepPlan>, int>> plans; ///< step -> (plan, actors still using it)
  /// (step, micro-batch, MoE layer) -> (the layer's plan, actors of the micro-batch still using it): a layer is
  /// planned when the first actor reaches it and dropped when the last one is done with it, so a run holds the
  /// layers in flight rather than whole steps (at 4,096 GPUs a step's 58 layers are about 2 GB).
  std::map<std::tuple<int, int, int>, std::pair<std::unique_ptr<const LayerTraffic>, int>> layers;
  int next_plan = 0;
  int steps_done_all = 0;
  std::vector<int> steps_done; ///< [gpu * micro + m]
  std::function<void(int, double)> progress;
  CommModel comm = CommModel::Fast;
  /// The first typed error an actor met (planning a step or a layer, e.g. a re-fit the policy refuses): the run
  /// stops and Simulation::run rethrows it after the engine returns.
  std::exception_ptr error;
  void abort_run(std::exception_ptr e)
  {
    if (!error)
      error = std::move(e);
    sg4::Actor::kill_all(); // every actor but this one
  }

  /// One all-to-all of the fast model per micro-batch: the GPUs register their start, wait at the barrier, and the
  /// first one through computes every GPU's end (no simulated time passes while it does).
  struct FastPhase {
    sg4::BarrierPtr barrier;
    std::vector<double> start_s; ///< [gpu]
    const LayerTraffic* traffic = nullptr; ///< the layer's traffic (the same for all), owned by the plan
    bool dispatch = true;
    std::vector<double> end_s;   ///< [gpu]
    int64_t computed = -1;       ///< sequence number of the phase end_s belongs to
  };
  std::vector<FastPhase> fast; ///< [micro-batch]
  /// Every actor (all micro-batches) waits here after a re-fit's weight copies: decode resumes when the last copy
  /// has arrived (created only when the planner may re-fit).
  sg4::BarrierPtr move_barrier;
  FastPhaseSolver solver;
  LayerComm idle_comm;  ///< what an idle phase moves: nothing (one stage of empty rows)
  PhaseCost idle_cost;  ///< and costs: nothing

  /// The units and cost of a layer's phase (idle phases: none).
  const LayerComm& comm_of(const LayerTraffic& lt, bool dispatch) const
  {
    return (dispatch ? lt.dispatch_idle : lt.combine_idle) ? idle_comm : lt.comm;
  }
  const PhaseCost& cost_of(const LayerTraffic& lt, bool dispatch) const
  {
    if (dispatch ? lt.dispatch_idle : lt.combine_idle)
      return idle_cost;
    return dispatch ? lt.dispatch_cost : lt.combine_cost;
  }

  void compute_fast(FastPhase& ph)
  {
    const LayerTraffic& lt = *ph.traffic;
    const double bytes = solver.solve(*sim, comm_of(lt, ph.dispatch), ph.dispatch,
                                      ph.dispatch ? lt.dispatch_unit_bytes : lt.combine_unit_bytes,
                                      cost_of(lt, ph.dispatch), ph.start_s, ph.end_s);
    sim->bytes_sent += bytes;
    sim->bytes_received += bytes;
  }

  std::shared_ptr<const StepPlan> acquire(int step)
  {
    auto it = plans.find(step);
    if (it == plans.end()) {
      if (step != next_plan)
        throw InternalError("decode plan requested out of order");
      auto plan = std::make_shared<const StepPlan>(planner->begin_step());
      recorder->step_metrics(*plan);
      ++next_plan;
      it = plans.emplace(step, std::make_pair(plan, gpus * micro)).first;
    }
    return it->second.first;
  }
  const LayerTraffic& acquire_layer(const StepPlan& plan, int step, int m, int moe)
  {
    const auto key = std::make_tuple(step, m, moe);
    auto it = layers.find(key);
    if (it == layers.end()) {
      auto lt = std::make_unique<const LayerTraffic>(planner->plan_layer(plan, m, moe));
      recorder->layer_metrics(step, m, moe, *lt);
      it = layers.emplace(key, std::make_pair(std::move(lt), gpus)).first;
    }
    return *it->second.first;
  }
  void release_layer(int step, int m, int moe)
  {
    auto it = layers.find(std::make_tuple(step, m, moe));
    if (--it->second.second == 0)
      layers.erase(it);
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
    // Typed errors stop the run cleanly; anything else (SimGrid's actor-kill exception included) passes.
    try {
      replay();
    } catch (const UsageError&) {
      st_->abort_run(std::current_exception());
    } catch (const InputError&) {
      st_->abort_run(std::current_exception());
    } catch (const InternalError&) {
      st_->abort_run(std::current_exception());
    }
  }

private:
  void replay()
  {
    // Eager delivery: data flows as soon as it is sent, like RDMA/NVLink writes into preallocated buffers.
    for (auto* boxes : receive_boxes())
      (*boxes)[box()]->set_receiver(sg4::Actor::self());
    const int num_layers = st_->model->num_layers;
    for (int s = 0; s < st_->steps; ++s) {
      auto plan = st_->acquire(s);
      const MicroBatchPlan& mp = plan->micro[m_];
      if (plan->weight_moves)
        move_weights(s, *plan->weight_moves);
      for (int layer = 0; layer < num_layers; ++layer) {
        const int moe = st_->model->moe_index(layer);
        compute(s, layer, moe >= 0 ? mp.moe_pre_s[gpu_] : mp.dense_layer_s[gpu_], SpanKind::Attention, mp.tokens[gpu_]);
        if (moe < 0)
          continue;
        const LayerTraffic& lt = st_->acquire_layer(*plan, s, m_, moe);
        exchange(s, layer, lt, true, SpanKind::Dispatch);
        compute(s, layer, lt.expert_time_s[gpu_], SpanKind::Expert, lt.expert_tokens[gpu_]);
        exchange(s, layer, lt, false, SpanKind::Combine);
        sg4::Comm::wait_all(pending_sends_);
        pending_sends_.clear();
        st_->release_layer(s, m_, moe);
      }
      compute(s, -1, mp.lm_head_s[gpu_], SpanKind::Head, mp.tokens[gpu_]);
      st_->recorder->step_done(s, gpu_, sg4::Engine::get_clock());
      st_->release(s, box());
    }
    for (auto* boxes : receive_boxes())
      (*boxes)[box()]->set_receiver(nullptr);
  }

  int box() const { return gpu_ * st_->micro + m_; }
  std::vector<std::vector<sg4::Mailbox*>*> receive_boxes()
  {
    std::vector<std::vector<sg4::Mailbox*>*> all{&st_->flag_box};
    for (auto& stage : st_->stage_box)
      if (!stage.empty())
        all.push_back(&stage);
    if (!st_->forwarded_box.empty())
      all.push_back(&st_->forwarded_box);
    return all;
  }

  void compute(int step, int layer, double t_s, SpanKind kind, int64_t tokens)
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
      st_->recorder->span(step, gpu_, m_, layer, kind, t1, sg4::Engine::get_clock(), tokens);
    } else {
      const double t0 = sg4::Engine::get_clock();
      sg4::this_actor::sleep_for(t_s);
      st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock(), tokens);
    }
  }

  /// A re-fit's expert-weight copies before step `step`: the first micro-batch's actors move them as one phase
  /// (comm/phase.hpp's rules, a single stage), then every actor waits for the last arrival.
  void move_weights(int step, const LayerTraffic& lt)
  {
    const double t0 = sg4::Engine::get_clock();
    double sent = -1;
    if (m_ == 0) {
      run_phase(lt, true);
      ++phase_;
      sg4::Comm::wait_all(pending_sends_);
      pending_sends_.clear();
      sent = lt.comm.units_own.empty() ? 0.0 : static_cast<double>(lt.comm.units_own[gpu_]) * lt.dispatch_unit_bytes;
    }
    if (!st_->move_barrier)
      throw InternalError("weight copies planned but the engine was not told the planner re-fits");
    st_->move_barrier->wait();
    st_->recorder->span(step, gpu_, m_, -1, SpanKind::WeightMove, t0, sg4::Engine::get_clock(), -1, sent);
  }

  /// The timing of one phase under the run's communication model; returns when this GPU's phase ends.
  void run_phase(const LayerTraffic& lt, bool dispatch)
  {
    const double t0 = sg4::Engine::get_clock();
    if (st_->comm == CommModel::Fast) {
      auto& ph = st_->fast[m_];
      ph.start_s[gpu_] = t0;
      ph.traffic = &lt;
      ph.dispatch = dispatch;
      ph.barrier->wait();
      if (ph.computed != fast_phase_) {
        st_->compute_fast(ph);
        ph.computed = fast_phase_;
      }
      ++fast_phase_;
      sg4::this_actor::sleep_until(ph.end_s[gpu_]);
    } else {
      exchange_exact(lt, dispatch);
    }
  }

  /// One dispatch or combine under the rules of comm/phase.hpp.
  void exchange(int step, int layer, const LayerTraffic& lt, bool dispatch, SpanKind kind)
  {
    const double t0 = sg4::Engine::get_clock();
    run_phase(lt, dispatch);
    ++phase_;
    // What this GPU sends: its tokens' units in dispatch, the units it holds back in combine.
    const auto& c = lt.comm;
    const bool idle = dispatch ? lt.dispatch_idle : lt.combine_idle;
    const double sent = idle || c.units_own.empty() ? 0.0
                        : dispatch ? static_cast<double>(c.units_own[gpu_]) * lt.dispatch_unit_bytes
                                   : static_cast<double>(c.units_held[gpu_]) * lt.combine_unit_bytes;
    st_->recorder->span(step, gpu_, m_, layer, kind, t0, sg4::Engine::get_clock(),
                        c.tokens.empty() ? -1 : c.tokens[gpu_], sent);
  }

  /// Receives `count` messages from `box` and returns the latest arrival: max(end of the transfer, the sender's
  /// ready time) + the message latency, or now if that is later.
  double receive_all(sg4::Mailbox* box, int count, const PhaseCost& cost)
  {
    recvs_.clear();
    payloads_.assign(count, nullptr);
    for (int i = 0; i < count; ++i)
      recvs_.push_back(box->get_async<MessageTag>(&payloads_[i]));
    sg4::Comm::wait_all(recvs_);
    double arrival = sg4::Engine::get_clock();
    for (int i = 0; i < count; ++i)
      arrival = std::max(arrival, std::max(recvs_[i]->get_finish_time(), payloads_[i]->ready_s) +
                                      message_latency_s(*st_->sim, cost, payloads_[i]->rank, gpu_));
    return arrival;
  }

  /// The exact model: one SimGrid message per flag and per unit count. Every pair exchanges an empty flag; every
  /// stage's data leaves at once (forwarding is pipelined); a forwarder tells each GPU it forwards to when its own
  /// first-stage data has all arrived (an empty "forwarded" message), and forwarded data counts as arrived only with
  /// that message.
  void exchange_exact(const LayerTraffic& lt, bool dispatch)
  {
    const int G = st_->gpus, M = st_->micro;
    const PhaseCost& cost = st_->cost_of(lt, dispatch);
    const double unit_bytes = dispatch ? lt.dispatch_unit_bytes : lt.combine_unit_bytes;
    const double start = sg4::Engine::get_clock();
    MessageTag& tag = st_->tags[static_cast<size_t>(box()) * 2 + (phase_ % 2)];
    tag.rank = gpu_;
    tag.ready_s = start + (cost.send_s.empty() ? 0.0 : cost.send_s[gpu_]);
    for (int p = 0; p < G; ++p)
      if (p != gpu_)
        pending_sends_.push_back(st_->flag_box[p * M + m_]->put_async(&tag, 0));
    const auto stages = phase_stages(st_->comm_of(lt, dispatch), dispatch);
    // This GPU's sends (rows) and expected receives (columns) per stage: reversed stages swap them.
    auto sends = [&](const PhaseStage& s) -> const std::vector<std::pair<int, int32_t>>& {
      return s.reversed ? s.units->in[gpu_] : s.units->out[gpu_];
    };
    auto receives = [&](const PhaseStage& s) -> const std::vector<std::pair<int, int32_t>>& {
      return s.reversed ? s.units->out[gpu_] : s.units->in[gpu_];
    };
    const auto send = [&](const std::vector<std::pair<int, int32_t>>& to_peers, std::vector<sg4::Mailbox*>& to,
                          bool data) {
      for (auto [dst, units] : to_peers) {
        if (dst == gpu_)
          continue;
        double bytes = 0;
        if (data) {
          bytes = static_cast<double>(static_cast<uint64_t>(units * unit_bytes));
          st_->sim->bytes_sent += bytes;
          st_->sim->bytes_received += bytes;
        }
        pending_sends_.push_back(to[dst * M + m_]->put_async(
            &tag, static_cast<uint64_t>(effective_flow_bytes(*st_->sim, cost, gpu_, dst, bytes))));
      }
    };
    for (size_t i = 0; i < stages.size(); ++i)
      send(sends(stages[i]), st_->stage_box[i], true);
    double end = std::max(tag.ready_s, receive_all(st_->flag_box[box()], G - 1, cost));
    const double ready = receive_all(st_->stage_box[0][box()], static_cast<int>(receives(stages[0]).size()), cost);
    end = std::max(end, ready);
    if (stages.size() > 1) {
      // Forwarded data: the transfers, and the forwarders' word that they have received all they forward.
      end = std::max(end, receive_all(st_->stage_box[1][box()], static_cast<int>(receives(stages[1]).size()), cost));
      if (ready > sg4::Engine::get_clock())
        sg4::this_actor::sleep_until(ready);
      send(sends(stages[1]), st_->forwarded_box, false);
      end = std::max(end, receive_all(st_->forwarded_box[box()], static_cast<int>(receives(stages[1]).size()), cost));
    }
    end += (cost.post_s.empty() ? 0.0 : cost.post_s[gpu_]) + cost.fixed_s;
    if (end > sg4::Engine::get_clock())
      sg4::this_actor::sleep_until(end);
  }

  RunState* st_;
  int gpu_;
  int m_;
  int64_t fast_phase_ = 0; ///< all-to-alls this actor has done in the fast model
  int64_t phase_ = 0;      ///< all-to-alls this actor has done
  std::vector<sg4::CommPtr> pending_sends_;
  std::vector<sg4::CommPtr> recvs_;
  std::vector<MessageTag*> payloads_;
};

} // namespace

void Simulation::run(StepSource& planner, const ModelSpec& model, int steps, Recorder& recorder,
                     const std::function<void(int, double)>& progress, CommModel comm, int gpus)
{
  RunState st;
  st.sim = impl_.get();
  st.planner = &planner;
  st.recorder = &recorder;
  st.model = &model;
  st.steps = steps;
  st.gpus = gpus > 0 ? gpus : impl_->cluster.num_gpus();
  if (st.gpus > impl_->cluster.num_gpus())
    throw InternalError("run on more GPUs than the platform has");
  st.micro = planner.micro_batches();
  st.progress = progress;
  st.comm = comm;
  const int G = st.gpus, M = st.micro;
  if (comm == CommModel::Fast)
    for (int m = 0; m < M; ++m) {
      RunState::FastPhase ph;
      ph.barrier = sg4::Barrier::create(static_cast<unsigned>(G));
      ph.start_s.assign(G, 0.0);
      ph.end_s.assign(G, 0.0);
      st.fast.push_back(std::move(ph));
    }
  if (planner.may_refit())
    st.move_barrier = sg4::Barrier::create(static_cast<unsigned>(G * M));
  st.tags.assign(static_cast<size_t>(G) * M * 2, MessageTag{});
  st.idle_comm.stages.assign(1, PairUnits{});
  st.idle_comm.stages[0].out.assign(G, {});
  st.idle_comm.stages[0].in.assign(G, {});
  for (int g = 0; g < G; ++g) {
    if (M > 1)
      st.compute_lock.push_back(sg4::Mutex::create());
    for (int m = 0; m < M; ++m) {
      const std::string id = std::to_string(g) + "-" + std::to_string(m);
      st.flag_box.push_back(sg4::Mailbox::by_name("flag-" + id));
      if (comm == CommModel::Exact) {
        for (int stage = 0; stage < 2; ++stage)
          st.stage_box[stage].push_back(sg4::Mailbox::by_name("stage" + std::to_string(stage) + "-" + id));
        st.forwarded_box.push_back(sg4::Mailbox::by_name("forwarded-" + id));
      }
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
  if (st.error)
    std::rethrow_exception(st.error);
  impl_->raise_unrouted();
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
  impl_->raise_unrouted();
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

double Simulation::phase_time_s(const LayerComm& comm, bool dispatch, double unit_bytes, const PhaseCost& cost,
                                const std::vector<double>& start_s, std::vector<double>& end_s)
{
  const double bytes = fast_phase_.solve(*impl_, comm, dispatch, unit_bytes, cost, start_s, end_s);
  impl_->raise_unrouted();
  return bytes;
}

} // namespace moesim
