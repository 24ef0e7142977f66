import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolveSession } from '../guard.js';
import { liveStream } from '../live.js';
import type { ConsoleContext } from './context.js';

/** A fragment rendered alone (a live table's rows), without the layout. */
export function fragment(app: FastifyInstance, name: string, data: Record<string, unknown>): Promise<string> {
  return app.view(name, data) as Promise<string>;
}

/** A live fragment for the session of this request, within the stream limits. */
export function stream(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply, render: () => Promise<string | null>): FastifyReply | Promise<FastifyReply> {
  const key = req.consoleSession!.csrf;
  if (!ctx.streams.take(key)) return reply.code(429).send('too many live tables open');
  return liveStream(
    req,
    reply,
    { intervalMs: ctx.liveIntervalMs, render, alive: async () => Boolean(await resolveSession(req, ctx.guard, false)) },
    () => ctx.streams.give(key),
  );
}
