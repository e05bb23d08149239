import { NONE, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { TextPokeView } from '../src/kernel/text-poke.js';

/**
 * no-handler-write-during-poke: while a CPU is inside text_poke(), no
 * interrupt or NMI handler on that CPU writes the kernel text page through
 * poking_addr. This is the contract of
 * use_temporary_mm(): "IRQs must be disabled while the temporary mm is
 * loaded, thereby preventing interrupt handler bugs from overriding the
 * kernel memory protection" (x86/mm: Introduce temporary mm structs, 2018/19),
 * plus nmi_uaccess_okay() for NMIs ("bpf: Fail bpf_probe_write_user() while
 * mm is switched", same series).
 *
 * Ghost: kernel/text-poke.ts handlerUaccessWrite() latches `handlerTextWrite`.
 */
export function noHandlerWriteDuringPoke<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as TextPokeView;
  return {
    doc: 'No interrupt/NMI handler on the poking CPU writes the text page through poking_addr while the poke runs.',
    holds: (s) => g(s).handlerTextWrite === NONE,
    explain: (s) =>
      `a handler on CPU${g(s).handlerTextWrite} wrote the kernel text page through poking_addr while that CPU was inside text_poke()`,
  };
}
