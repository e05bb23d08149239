/** Types for self-resolve.mjs (plain JavaScript: its ESM half runs in Node's module hooks thread). */
export declare const isTlbcheckSpecifier: (specifier: string) => boolean;
/** Node's ESM resolve hook: `tlbcheck` and `tlbcheck/*` fall back to the running package when none is installed. */
export declare function resolve(
  specifier: string,
  context: { parentURL?: string; conditions?: string[]; importAttributes?: object },
  next: (specifier: string, context?: object) => Promise<{ url: string }>,
): Promise<{ url: string }>;
/** Install the ESM hook and the CommonJS fallback in this thread (once). */
export declare function registerSelfResolve(): void;
