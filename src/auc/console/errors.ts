import type { FastifyReply } from 'fastify';
import { view } from './page.js';

const TITLES: Record<number, string> = { 400: 'Bad request', 401: 'Not signed in', 403: 'Refused', 404: 'Not found', 409: 'Conflict', 413: 'Too large', 429: 'Too many', 500: 'Server error' };

/** An error as a page of the console (the API's errors are JSON; a browser gets this). */
export function errorPage(reply: FastifyReply, status: number, problem: string): Promise<FastifyReply> {
  return view(reply.code(status), 'error', { title: TITLES[status] ?? 'Error', problem });
}
