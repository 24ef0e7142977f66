/**
 * What every role's start function hands back to the composition root
 * (`keyswitch up`, `keyswitch <role>`): where it listens and how to stop it.
 * Shared by the roles, so it lives outside any role folder.
 */
export interface RunningRole {
  listening: { name: string; address: string }[];
  stop(): Promise<void>;
}
