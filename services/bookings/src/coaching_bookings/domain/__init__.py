"""The bookings domain: standard library, kit's rejection and the contract's roles only.

- `bookings`: the Booking and the saga that makes it: PENDING -> ACTIVE | REJECTED, the slots
  service being the only authority on whether the slot is free.
- `lifecycle`: what its participants do with an ACTIVE booking: cancel, complete, no-show.
- `reviews`: the student's review of a call, written once the booking is over.

Every rule returns a new value or raises a `CommandRejectedError` with the contract's code;
none changes a terminal booking (REJECTED, COMPLETED, CANCELLED, NO_SHOW).
"""
