-- Which prompt produced a message: "id@version;lang=…;persona=…" (the x-prompt-ref header).
ALTER TABLE messages ADD COLUMN prompt_ref TEXT;
