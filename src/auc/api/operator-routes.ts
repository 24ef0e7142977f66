import type { FastifyInstance } from 'fastify';
import type { LiveRoles } from '../../control/live-roles.js';
import type { Store } from '../../store/index.js';
import { Operations } from '../operations.js';
import { auditRoutes } from './audit-routes.js';
import { requireRole } from './auth.js';
import { blockedRoutes } from './blocked-routes.js';
import { lockoutRoutes } from './lockout-routes.js';
import { registrationRoutes } from './registrations-routes.js';

/**
 * What operators see and steer beyond provisioning (docs/operations.md):
 * registrations, failures and lockouts, blocked sources, failures per source,
 * the audit log. `live` holds the roles of this process (`keyswitch up`).
 */
export function operatorRoutes(app: FastifyInstance, store: Store, live?: LiveRoles): Operations {
  const ops = new Operations(store, live);
  const admin = requireRole(store, 'admin');
  const viewer = requireRole(store, 'viewer');
  registrationRoutes(app, ops, admin, viewer);
  lockoutRoutes(app, ops, viewer);
  blockedRoutes(app, ops, admin, viewer);
  auditRoutes(app, ops, viewer);
  return ops;
}
