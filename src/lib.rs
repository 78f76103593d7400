//! # Spate
//!
//! A distributed, stateful stream processor in the model of Apache Flink. A program
//! builds pipelines on a [`StreamEnv`] with the DataStream API and runs them with
//! [`StreamEnv::execute`]; run directly, the program runs every job on the embedded
//! mini-cluster (each subtask a thread of the process).
//!
//! ```no_run
//! use spate::prelude::*;
//!
//! fn main() -> spate::Result<()> {
//!     let params = Params::from_args();
//!     let env = StreamEnv::from_params(&params)?;
//!     env.read_text_file(params.required("input")?)
//!         .flat_map(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
//!         .map(|word| (word, 1u64))
//!         .key_by(|(word, _)| word.clone())
//!         .reduce(|a, b| (a.0, a.1 + b.1))
//!         .map(|(word, count)| format!("{word} {count}"))
//!         .sink_to(FileSink::text(params.required("output")?));
//!     env.execute("WordCount")?;
//!     Ok(())
//! }
//! ```
//!
//! The crate's layers: [`spate_core`] (records, keys, the JobGraph, configuration),
//! [`spate_runtime`] (operators, tasks, channels, sources and sinks), and this crate
//! (the API, the planner, the mini-cluster).

mod connected;
mod datastream;
mod env;
mod error;
mod execution;
mod graph;
mod keyed_stream;
pub mod logging;
mod params;
mod windowed_stream;

pub use connected::{
    BroadcastConnectedStream, BroadcastStream, ConnectTo, ConnectedStreams, KeyedBroadcastConnectedStream,
    KeyedConnectTo, KeyedConnectedStreams,
};
pub use datastream::{DataStream, DataStreamSink};
pub use env::{ROLE_ENV, Role, StreamEnv};
pub use error::{Error, Result};
pub use execution::collect::CollectIterator;
pub use execution::job_client::{JobClient, JobExecutionResult, JobStatus, VertexMetrics};
pub use execution::restore::RestoreError;
pub use graph::planner::PlanError;
pub use keyed_stream::KeyedStream;
pub use params::{Flag, Params, Usage};
pub use spate_core::config::{Configuration, RuntimeMode};
pub use spate_core::job_graph::JobGraph;
pub use spate_core::job_id::JobId;
pub use spate_core::{BoxError, Data, Key, StreamRecord, Timestamp, Unrecoverable};
pub use spate_runtime::accumulator::{
    Accumulator, AccumulatorError, AccumulatorResults, AccumulatorValue, DoubleCounter, Histogram, IntCounter,
    LongCounter,
};
pub use spate_runtime::checkpoint::{
    CheckpointKind, CheckpointStats, CheckpointStatus, CheckpointingMode, OperatorSnapshot,
};
pub use spate_runtime::context::RuntimeContext;
pub use spate_runtime::functions::{
    AggregateFunction, BroadcastContext, BroadcastProcessFunction, CoFlatMapFunction, CoMapFunction, CoProcessFunction,
    Commutative, Count, FilterFunction, FlatMapFunction, FnResult, KeyedBroadcastContext,
    KeyedBroadcastProcessFunction, KeyedCoProcessFunction, KeyedContext, KeyedProcessFunction, KeyedReadOnlyContext,
    MapFunction, Max, Min, OnTimerContext, ProcessContext, ProcessFunction, ReadOnlyBroadcastContext, ReduceFunction,
    SinkFunction, Sum, TimerService,
};
pub use spate_runtime::output::{Collector, OutputTag};
pub use spate_runtime::sink::{
    DiscardingSink, PrintSink, Sink, SinkWriter, TextFileSink, TwoPhaseCommitSinkWriter, TwoPhaseCommitWriter,
};
pub use spate_runtime::source::{
    Boundedness, CollectionSource, GeneratorSource, SequenceSource, SocketTextSource, Source, SourcePoll, SourceReader,
    TextFileSource,
};
pub use spate_runtime::state::{
    AggregatingState, AggregatingStateDescriptor, BroadcastState, ListState, ListStateDescriptor, MapState,
    MapStateDescriptor, ReadOnlyBroadcastState, ReducingState, ReducingStateDescriptor, StateError, StateTtlConfig,
    StateVisibility, TtlUpdateType, ValueState, ValueStateDescriptor,
};
pub use spate_runtime::time::{Clock, ManualClock};
pub use spate_runtime::timer::TimeDomain;
pub use spate_runtime::watermark::{WatermarkGenerator, WatermarkOutput, WatermarkStrategy};
pub use spate_runtime::window::{
    ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, CountTrigger, EventTimeSessionWindows,
    EventTimeTrigger, GlobalWindow, GlobalWindows, NeverTrigger, ProcessWindowFunction, ProcessingTimeSessionWindows,
    ProcessingTimeTrigger, PurgingTrigger, SlidingEventTimeWindows, SlidingProcessingTimeWindows, TimeWindow, Trigger,
    TriggerContext, TriggerResult, TumblingEventTimeWindows, TumblingProcessingTimeWindows, Window, WindowAssigner,
    WindowContext,
};
pub use windowed_stream::{AllWindowedStream, ProcessAllWindowFunction, WindowedStream};

/// Files as sinks.
pub struct FileSink;

impl FileSink {
    /// Writes each record's `Display` form as a line, one part file per subtask in
    /// directory `dir`.
    pub fn text(dir: impl Into<std::path::PathBuf>) -> TextFileSink {
        TextFileSink::new(dir)
    }
}

/// Everything a typical program needs, in one `use`.
pub mod prelude {
    pub use crate::{Accumulator, DoubleCounter, IntCounter, LongCounter};
    pub use crate::{
        AggregateFunction, AggregatingState, AggregatingStateDescriptor, BroadcastContext, BroadcastProcessFunction,
        BroadcastStream, CoFlatMapFunction, CoMapFunction, CoProcessFunction, Collector, Commutative, Count,
        DataStream, DiscardingSink, FileSink, FilterFunction, FlatMapFunction, FnResult, GeneratorSource, JobClient,
        KeyedBroadcastContext, KeyedBroadcastProcessFunction, KeyedCoProcessFunction, KeyedContext,
        KeyedProcessFunction, KeyedReadOnlyContext, KeyedStream, ListState, ListStateDescriptor, MapFunction, MapState,
        MapStateDescriptor, Max, Min, OnTimerContext, OutputTag, Params, ProcessContext, ProcessFunction,
        ReadOnlyBroadcastContext, ReduceFunction, ReducingState, ReducingStateDescriptor, RuntimeContext, RuntimeMode,
        SinkFunction, StateTtlConfig, StreamEnv, Sum, TimeDomain, ValueState, ValueStateDescriptor, WatermarkStrategy,
    };
    pub use crate::{
        AllWindowedStream, ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, CountTrigger,
        EventTimeSessionWindows, GlobalWindows, ProcessAllWindowFunction, ProcessWindowFunction,
        ProcessingTimeSessionWindows, PurgingTrigger, SlidingEventTimeWindows, SlidingProcessingTimeWindows,
        TimeWindow, Trigger, TriggerContext, TriggerResult, TumblingEventTimeWindows, TumblingProcessingTimeWindows,
        Window, WindowContext, WindowedStream,
    };
    // Declaring the command line, next to `Params`.
    pub use crate::{Flag, Usage};
}
