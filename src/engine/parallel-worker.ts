/**
 * A worker thread of a multi-core run (parallel.ts). Loaded by
 * parallel-boot.mjs, which registers tsx first: the worker builds its own
 * copy of the model from the model file, so guards, effects and invariants
 * are ordinary closures in this thread, then runs parallel-round.ts on each
 * message.
 */
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { moduleExport, prepareModelLoading } from '../load.js';
import { instantiate } from './compile.js';
import { isModelDef, type ModelDef } from './model.js';
import { createParticipant, type Participant } from './parallel-round.js';
import type { InitMsg, LoadMsg, ModelSource, RehashMsg, RunMsg } from './parallel-protocol.js';

export async function loadSourceModel(src: ModelSource): Promise<ModelDef> {
  // As the main thread loads it (load.ts): 'tlbcheck' resolves to this package, CommonJS exports are unwrapped.
  prepareModelLoading();
  const mod = (await tsImport(pathToFileURL(src.file).href, import.meta.url)) as Record<string, unknown>;
  let x = moduleExport(mod, src.exportName);
  if (src.factoryArg !== undefined) x = (x as (a: unknown) => unknown)(src.factoryArg);
  if (!isModelDef(x)) throw new Error(`${src.file}: export ${src.exportName ?? 'default'} is not a model made with defineModel()`);
  return x;
}

/** The model file a 'load' message asked for, loading since then (see WorkerThreads in parallel.ts). */
let preloaded: { key: string; def: Promise<ModelDef> } | undefined;

async function setup(m: InitMsg): Promise<Participant> {
  const key = JSON.stringify(m.source);
  const def = await (preloaded?.key === key ? preloaded.def : loadSourceModel(m.source));
  const model = instantiate(def, m.params, { invariants: m.invariants });
  if (model.layout.words !== m.words || model.instances.length !== m.instances)
    throw new Error('the model file built a different machine in a worker (is build() a function of its parameters only?)');
  return createParticipant(model, m);
}

let me: Participant | undefined;

parentPort!.on('message', (m: LoadMsg | InitMsg | RunMsg | RehashMsg) => {
  switch (m.type) {
    case 'load':
      // A failure is reported when 'init' awaits it (as 'fatal').
      preloaded = { key: JSON.stringify(m.source), def: loadSourceModel(m.source) };
      preloaded.def.catch(() => {});
      return;
    case 'init':
      setup(m).then(
        (p) => {
          me = p;
          parentPort!.postMessage({ type: 'ready' });
        },
        (e: unknown) => parentPort!.postMessage({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }),
      );
      return;
    case 'run':
      me!.collect(m.gen);
      parentPort!.postMessage(me!.round(m));
      return;
    case 'rehash':
      parentPort!.postMessage({ type: 'rehashed', left: me!.rehash(m) });
      return;
  }
});
