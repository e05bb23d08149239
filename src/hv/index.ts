/** Hypervisor building blocks: vCPUs the host preempts and resumes, and what the guest and host share. */
export * from './steal-time.js';
