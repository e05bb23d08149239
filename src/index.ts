/** Public API for model files and user test suites. */
export * from './engine/types.js';
export * from './engine/model.js';
export { check, type CheckResult, type Violation, type RunOptions } from './engine/check.js';
export { instantiate, ModelError, type CompiledModel } from './engine/compile.js';
export type { TraceStep } from './engine/trace.js';
export { pcStep, pcSteps, performer, whileCpu, type PcOf, type PcStepOptions } from './engine/program.js';
