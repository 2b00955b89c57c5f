//! A client of the protocol, for the demo and the tests.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::command::{self, Command};

/// A connection to a KV server.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects to the server at `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Sends `line` with a `\r\n`, and gives the lines of its reply.
    pub async fn command(&mut self, line: &str) -> io::Result<Vec<String>> {
        self.send_line(line.as_bytes()).await?;
        self.reply_to(line.as_bytes()).await
    }

    /// Sends `line` (any bytes) and a `\r\n`.
    pub async fn send_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await
    }

    /// Sends `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// The lines of the reply to `line`, sent before: one line, and a second
    /// after a `GET` whose first line is a value (error lines have two words,
    /// values one).
    pub async fn reply_to(&mut self, line: &[u8]) -> io::Result<Vec<String>> {
        let first = self.expect_line().await?;
        let mut reply = vec![first];
        if matches!(command::parse(line), Ok(Command::Get { .. }))
            && !command::is_error_line(&reply[0])
        {
            reply.push(self.expect_line().await?);
        }
        Ok(reply)
    }

    /// The next line from the server, without its `\r\n`; `None` if the server
    /// closed the connection.
    pub async fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line.pop() != Some(b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection mid-line",
            ));
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }

    async fn expect_line(&mut self) -> io::Result<String> {
        self.read_line().await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        })
    }
}
