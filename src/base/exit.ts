/** natnow's exit statuses (sysexits(3) where one fits). */

/** The backend reported errors or failed deletes. */
export const EXIT_PARTIAL = 1;

/** A NAT change natnow could not act on (named in the run record); the rest was done. */
export const EXIT_UNHANDLED = 3;

/** Invalid input: nothing was reset. */
export const EXIT_INVALID = 2;

/** A usage error (sysexits EX_USAGE). */
export const EXIT_USAGE = 64;

/** No backend can run (sysexits EX_UNAVAILABLE). */
export const EXIT_UNAVAILABLE = 69;

/** An internal error (sysexits EX_SOFTWARE). */
export const EXIT_SOFTWARE = 70;
