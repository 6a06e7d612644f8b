//! The recovery menu's keys: which entry a key picks, and when the menu is left.
//!
//! The screen reads `Recovery: 1 TFTP / 2 USB`; the dial-pad digit picks an entry at once,
//! the navigation keys move the highlight and OK takes it, Cancel boots normally (ASSUMED:
//! the KB only says the phone "will present two options - TFTP or USB").

use crate::phone::model::Key;

/// A way of reading the recovery package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Entry 1: the three files from the recovery TFTP server.
    Tftp,
    /// Entry 2: the three files from the root of a FAT USB stick.
    Usb,
}

/// What a key does in the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuAction {
    /// Nothing visible (a key the menu ignores, or the highlight moved).
    Stay,
    /// Run this entry.
    Enter(Entry),
    /// Leave the menu and boot the firmware in flash.
    Leave,
}

/// The menu's state: the highlighted entry, TFTP first as listed on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Menu {
    highlighted: Entry,
}

impl Default for Menu {
    fn default() -> Menu {
        Menu {
            highlighted: Entry::Tftp,
        }
    }
}

impl Menu {
    /// Applies one key press.
    pub fn press(&mut self, key: Key) -> MenuAction {
        match key {
            Key::Digit(1) => MenuAction::Enter(Entry::Tftp),
            Key::Digit(2) => MenuAction::Enter(Entry::Usb),
            Key::Up | Key::Down => {
                // Two entries: either direction moves to the other one.
                self.highlighted = match self.highlighted {
                    Entry::Tftp => Entry::Usb,
                    Entry::Usb => Entry::Tftp,
                };
                MenuAction::Stay
            }
            Key::Ok => MenuAction::Enter(self.highlighted),
            Key::Cancel => MenuAction::Leave,
            _ => MenuAction::Stay,
        }
    }

    /// The highlighted entry, for the screen.
    pub fn highlighted(&self) -> Entry {
        self.highlighted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_pick_entries_and_navigation_moves_the_highlight() {
        let mut menu = Menu::default();
        assert_eq!(menu.press(Key::Digit(2)), MenuAction::Enter(Entry::Usb));
        assert_eq!(menu.press(Key::Digit(1)), MenuAction::Enter(Entry::Tftp));
        assert_eq!(menu.press(Key::Ok), MenuAction::Enter(Entry::Tftp));
        assert_eq!(menu.press(Key::Down), MenuAction::Stay);
        assert_eq!(menu.highlighted(), Entry::Usb);
        assert_eq!(menu.press(Key::Ok), MenuAction::Enter(Entry::Usb));
        assert_eq!(menu.press(Key::Up), MenuAction::Stay);
        assert_eq!(menu.press(Key::Ok), MenuAction::Enter(Entry::Tftp));
        assert_eq!(menu.press(Key::Digit(3)), MenuAction::Stay);
        assert_eq!(menu.press(Key::Speaker), MenuAction::Stay);
        assert_eq!(menu.press(Key::Cancel), MenuAction::Leave);
    }
}
